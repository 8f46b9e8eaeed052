"""Sub-command groups of the `patrol` command line, one module each (see patrol/cli.py)."""
