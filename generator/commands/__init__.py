"""One module per `callslot` command that does more than wire options (``cli.py`` wires them)."""
