"""The `deformlearn` command line: one subcommand per module in deformlearn.core.commands.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`. Modules are
imported only when listed or run, so `deformlearn --help` stays fast and a broken optional dependency of one
command never breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from deformlearn.core import __version__

#: Subcommand name -> module under deformlearn.core.commands. Keep sorted by the order a user meets them.
COMMANDS: dict[str, str] = {
    "app": "app",
    "template": "template",
    "import": "import_data",
    "synth": "synth",
    "info": "info",
    "draw": "draw",
    "screenshots": "screenshots",
    "register": "register",
    "round": "round",
    "predict": "predict",
    "export": "export",
}


class CommandError(RuntimeError):
    """An error a command reports to the user as one clear line (no traceback)."""


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"deformlearn.core.commands.{COMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deformlearn",
        description="Deform & Learn Studio: learn 3D human shape and pose from DensePose correspondences.",
    )
    parser.add_argument("--version", action="version", version=f"deformlearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "app" in COMMANDS and argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["app", *argv]  # `deformlearn --headless` etc. are the app's options
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        if "app" in COMMANDS:
            args = parser.parse_args(["app", *argv])
        else:
            parser.print_help()
            return 0
    try:
        return int(args._run(args) or 0)
    except (CommandError, ValueError, FileNotFoundError) as exc:
        print(f"deformlearn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deformlearn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
