"""Helpers shared by the scripts: config loading and checks, image I/O, naming, plots."""
