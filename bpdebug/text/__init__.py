"""Words and numbers for people: the one number formatter, unit names, step narration, summaries."""
