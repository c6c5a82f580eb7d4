"""`deformlearn screenshots OUTDIR`: drive the desktop app through its main views and save PNGs.

Run it under a virtual screen (`xvfb-run -a deformlearn screenshots out/`) or with QT_QPA_PLATFORM=offscreen.
core/ never imports Qt: the app module is imported by name at run time only.
"""

from __future__ import annotations

import argparse
import importlib

HELP = "save screenshots of the desktop app's main views to OUTDIR (PNG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("outdir", help="folder for the PNG files")
    parser.add_argument("--project", help="project to show (default: the demo project, made on first use)")


def run(args: argparse.Namespace) -> int:
    return importlib.import_module("deformlearn.app.screenshots").main(args.outdir, args.project)
