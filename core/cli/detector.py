"""`deformlearn detector install|status`: the offline 2D pose detector's own environment (core.detection)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "install or check the offline 2D pose detector (MediaPipe BlazePose, in its own environment)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "status"),
                        help="install: create the environment and download mediapipe 0.10.21 from PyPI (its models "
                        "ship inside the wheel; nothing downloads when it runs); status: say whether it works")
    parser.add_argument("--env", metavar="DIR", help="environment folder (default: $DEFORMLEARN_DETECTOR_ENV or "
                        "~/.local/share/deformlearn/detector-env; set DEFORMLEARN_DETECTOR_ENV to use another later)")
    parser.add_argument("--python", metavar="PATH", help="Python 3.9-3.12 to build it with (default: this one)")


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.detection import (
        DetectorError,
        DetectorNotInstalled,
        PoseDetector,
        detector_env_dir,
        detector_python,
        install_detector,
    )

    env = Path(args.env) if args.env else detector_env_dir()
    if args.action == "install":
        try:
            install_detector(env, args.python)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
    try:
        with PoseDetector(detector_python(env)) as detector:
            print(f"pose detector ready: mediapipe {detector.version} in {env}")
    except (DetectorNotInstalled, DetectorError) as exc:
        raise CommandError(str(exc)) from exc
    return 0
