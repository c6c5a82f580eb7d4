"""`deformlearn app [PROJECT | --project PROJECT]`: the desktop app (the default when no subcommand is given).

Registered with the command line through the `deformlearn.commands` entry point (pyproject.toml).
"""

from __future__ import annotations

import argparse

HELP = "open the desktop app (Deform & Learn Studio); --headless runs a demo round in the terminal"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from deformlearn.app import main  # standard library only at import: the command line stays quick

    main.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from deformlearn.app import main

    return main.main(args=args)  # --headless needs no Qt: the headless round only drives core commands
