"""The Textual debugger: a thin view over a session model."""
