"""The `deformlearn` command line: one thin module per command over the functions of the other subpackages.

`main` parses and dispatches (`parser.py`); each command module defines `HELP`, `add_arguments` and `run`.
"""

from deformlearn.core.cli.parser import COMMANDS, CommandError, main

__all__ = ["COMMANDS", "CommandError", "main"]
