"""How a script starts: the command line (Hydra), the typed config, its checks and the names of each choice."""
