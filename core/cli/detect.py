"""`deformlearn detect PROJECT`: 2D keypoints from the offline pose detector for a project's people that have none."""

from __future__ import annotations

import argparse

HELP = "detect 2D keypoints (MediaPipe BlazePose, offline) for a project's people that have none"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="detect for every person, replacing keypoints they already have")


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.detection import DetectorError, DetectorNotInstalled, detect_in_project
    from deformlearn.core.project.store import Project

    with Project.open(args.project) as project:
        try:
            report = detect_in_project(project, overwrite=args.overwrite)
        except (DetectorNotInstalled, DetectorError) as exc:
            raise CommandError(str(exc)) from exc
    print(f"detected keypoints for {report.found} of {report.people} people in {project.root}"
          + (f" ({report.no_image} skipped: image not on disk)" if report.no_image else ""))
    return 0
