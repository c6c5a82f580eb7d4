"""The `deformlearn` command line: one subcommand per module (the engine's in deformlearn.core.cli, others registered).

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`. Modules are
imported only when listed or run, so `deformlearn --help` stays fast and a broken optional dependency of one
command never breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from importlib.metadata import entry_points
from types import ModuleType

from deformlearn.core import __version__
from deformlearn.core.cli.errors import describe_error, silence_broken_pipe
from deformlearn.core.devices import check_device, resolve_device

#: The engine's subcommands: name -> module. Other packages add theirs through the `deformlearn.commands`
#: entry-point group (the desktop app registers `app` and `screenshots`), so core never names them.
ENGINE_COMMANDS: dict[str, str] = {
    "template": "deformlearn.core.cli.template",
    "import": "deformlearn.core.cli.import_data",
    "detect": "deformlearn.core.cli.detect",
    "detector": "deformlearn.core.cli.detector",
    "synth": "deformlearn.core.cli.synth",
    "info": "deformlearn.core.cli.info",
    "draw": "deformlearn.core.cli.draw",
    "register": "deformlearn.core.cli.register",
    "round": "deformlearn.core.cli.round",
    "predict": "deformlearn.core.cli.predict",
    "export": "deformlearn.core.cli.export",
}
ENTRY_POINT_GROUP = "deformlearn.commands"


def _registered_commands() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


#: Every subcommand, registered ones first (the app is the default command), in the order a user meets them.
COMMANDS: dict[str, str] = {**_registered_commands(), **ENGINE_COMMANDS}


class CommandError(RuntimeError):
    """An error a command reports to the user as one clear line (no traceback)."""


def _load(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


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
        if isinstance(getattr(args, "device", None), str):
            args.device = resolve_device(args.device)
            check_device(args.device)
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is handled below
        return code
    except (CommandError, ValueError, FileNotFoundError) as exc:
        print(f"deformlearn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deformlearn {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        silence_broken_pipe()
        return 0
    except (OSError, sqlite3.OperationalError, RecursionError) as exc:
        message = describe_error(exc, args)
        if message is None:
            raise
        print(f"deformlearn {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
