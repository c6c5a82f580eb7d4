"""`deformlearn draw PROJECT --person ID --out PNG`: the person's image with its dense points coloured by
part, its box and its keypoints with the COCO skeleton."""

from __future__ import annotations

import argparse

HELP = "draw a person's dense points (coloured by part) and keypoints on its image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder")
    parser.add_argument("--person", type=int, required=True, metavar="ID", help="person id (see `deformlearn info`)")
    parser.add_argument("--out", required=True, metavar="PNG", help="PNG file to write")
    parser.add_argument("--no-box", action="store_true", help="leave the person's box out")


def run(args: argparse.Namespace) -> int:
    import cv2

    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.project.store import Project
    from deformlearn.core.render.overlay import draw_person, write_png

    with Project.open(args.project, readonly=True) as project:
        person = project.person(args.person)
    image = cv2.imread(person.image_file, cv2.IMREAD_COLOR)
    if image is None:
        raise CommandError(f"{person.image_file}: image of person {person.id} is missing or unreadable")
    drawn = draw_person(image, bbox=None if args.no_box else person.bbox, keypoints=person.keypoints,
                        dense=person.dense)
    write_png(args.out, drawn)
    n = 0 if person.dense is None else len(person.dense)
    print(f"wrote {args.out}: person {person.id}, {n} dense points, {int((person.keypoints[:, 2] > 0).sum())} keypoints")
    return 0
