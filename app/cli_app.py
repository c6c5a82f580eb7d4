"""`deformlearn app [PROJECT]`: the desktop app (the default when no subcommand is given).

Registered with the command line through the `deformlearn.commands` entry point (pyproject.toml).
"""

from __future__ import annotations

import argparse

HELP = "open the desktop app (Deform & Learn Studio); --headless runs a demo round in the terminal"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", nargs="?", help="project folder to open (default: ask, offering the demo)")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo project (made on first use)")
    parser.add_argument("--headless", action="store_true",
                        help="no window: run one full deform-and-learn round on the demo project in the terminal")
    parser.add_argument("--startup-time", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from deformlearn.app import main

    if args.headless:  # no Qt needed: the headless round only drives core commands
        return main.run_headless(args.project)
    return main.main(args=args)
