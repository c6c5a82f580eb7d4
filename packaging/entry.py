"""Entry point of the frozen bundle: the `deformlearn` command line, whose default command is the desktop app.

The app starts its work processes as `sys.executable -m deformlearn.core.cli ...` (demo project, rounds);
in a bundle `sys.executable` is this program, so that form is accepted here and runs the same command.
"""

import multiprocessing
import sys


def main() -> int:
    multiprocessing.freeze_support()
    argv = sys.argv[1:]
    if argv[:2] == ["-m", "deformlearn.core.cli"]:
        argv = argv[2:]
    from deformlearn.core.cli.parser import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
