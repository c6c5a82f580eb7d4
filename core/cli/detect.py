"""`deformlearn detect PROJECT`: 2D keypoints from the offline pose detector for a project's people that have none."""

from __future__ import annotations

import argparse

HELP = "detect 2D keypoints (MediaPipe BlazePose, offline) for a project's people that have none"

#: People named in the list of those the detector found nothing for; the rest are counted.
LIST_MISSED = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="detect for every person, replacing keypoints they already have")


def none_found(labels: list[str]) -> str:
    """'; none for 3: 4 (seated), 7, 9' naming the first LIST_MISSED of `labels` ('' when there are none)."""
    if not labels:
        return ""
    more = f" and {len(labels) - LIST_MISSED} more" if len(labels) > LIST_MISSED else ""
    return f"; none for {len(labels)}: {', '.join(labels[:LIST_MISSED])}{more}"


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.detection import DetectorError, DetectorNotInstalled, detect_in_project
    from deformlearn.core.project.store import Project

    with Project.open(args.project) as project:
        try:
            report = detect_in_project(project, overwrite=args.overwrite)
        except (DetectorNotInstalled, DetectorError) as exc:
            raise CommandError(str(exc)) from exc
        records = {pid: project.person(pid) for pid in report.missed[:LIST_MISSED]}
    # each person by id and name, or where it came from when it has no name
    labels = [f"{pid} ({records[pid].name or records[pid].source_key})" if pid in records else str(pid)
              for pid in report.missed]
    print(f"detected keypoints for {report.found} of {report.people} people in {project.root}"
          + (f" ({report.no_image} skipped: image not on disk)" if report.no_image else "") + none_found(labels))
    return 0
