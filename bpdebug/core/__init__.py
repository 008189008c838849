"""The numerical core: scenarios, parameters, functions, the engine and its steps. Knows nothing of terminals."""
