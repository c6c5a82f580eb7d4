"""`deformlearn screenshots OUTDIR`: drive the desktop app through its main views and save PNGs.

Run it under a virtual screen (`xvfb-run -a deformlearn screenshots out/`) or with QT_QPA_PLATFORM=offscreen.
Registered with the command line through the `deformlearn.commands` entry point (pyproject.toml).
"""

from __future__ import annotations

import argparse

HELP = "save screenshots of the desktop app's main views to OUTDIR (PNG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", help="folder for the PNG files")
    parser.add_argument("--project", help="project to show (default: the demo project, made on first use)")


def run(args: argparse.Namespace) -> int:
    from deformlearn.app import screenshots

    return screenshots.main(args.outdir, args.project)
