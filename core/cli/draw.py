"""`deformlearn draw PROJECT --person ID --out PNG [--fit]`: the person's image with its dense points coloured
by part, its box and its keypoints with the COCO skeleton; with --fit, the person's current fit blended over
the image and the posed body from the front and the side beside it (`core.render.fit_overlay`)."""

from __future__ import annotations

import argparse

HELP = "draw a person's dense points (coloured by part) and keypoints on its image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder")
    parser.add_argument("--person", type=int, required=True, metavar="ID", help="person id (see `deformlearn info`)")
    parser.add_argument("--out", required=True, metavar="PNG", help="PNG file to write")
    parser.add_argument("--no-box", action="store_true", help="leave the person's box out")
    parser.add_argument("--fit", action="store_true",
                        help="draw the person's current fit over the image, and the body from the front and the side")


def run(args: argparse.Namespace) -> int:
    import cv2

    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.project.importing import load_project_template
    from deformlearn.core.project.store import Project
    from deformlearn.core.render.fit_overlay import draw_fit
    from deformlearn.core.render.overlay import draw_person, write_png

    with Project.open(args.project, readonly=True) as project:
        person = project.person(args.person)
        fit = project.current_fit(person.id) if args.fit else None
        template = load_project_template(project) if args.fit else None
    if args.fit and (fit is None or fit.status == "failed"):
        raise CommandError(f"{args.project}: person {person.id} has no {'usable ' if fit else ''}fit to draw "
                           f"(`deformlearn register {args.project}` fits it)")
    image = cv2.imread(person.image_file, cv2.IMREAD_COLOR)
    if image is None:
        raise CommandError(f"{person.image_file}: image of person {person.id} is missing or unreadable")
    drawn = image if fit is None else draw_fit(image, template, fit.params, person.bbox)
    width = image.shape[1]  # the annotations go on the photo, not on the views beside it
    drawn[:, :width] = draw_person(drawn[:, :width], bbox=None if args.no_box else person.bbox,
                                   keypoints=person.keypoints, dense=person.dense)
    write_png(args.out, drawn)
    n = 0 if person.dense is None else len(person.dense)
    what = "" if fit is None else (f", fit of round {fit.round_index} ({fit.metrics.get('quality', 'not judged')})")
    print(f"wrote {args.out}: person {person.id}, {n} dense points, {int((person.keypoints[:, 2] > 0).sum())} "
          f"keypoints{what}")
    return 0
