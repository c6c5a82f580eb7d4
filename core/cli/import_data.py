"""`deformlearn import PROJECT --<format> SOURCE [--images DIR]`: read people in any DensePose/COCO format into
a project (created if missing), with template correspondences, in one transaction."""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

from deformlearn.core.cli.detect import none_found
from deformlearn.core.densepose.iuv_layout import IUV_ORDERS
from deformlearn.core.densepose.keypoint_layouts import KeypointLayoutNote

HELP = "import DensePose / COCO annotations or DensePose inference output into a project"

_SOURCES = {
    "coco_densepose": ("coco-densepose", "JSON", "DensePose-COCO annotations (densepose_coco_2014_*.json)"),
    "coco_keypoints": ("coco-keypoints", "JSON", "COCO person keypoints (people without dense points)"),
    "iuv": ("iuv", "DIR", "folder of DensePose inference output: NAME_IUV.png or NAME_iuv.png, optional NAME_INDS.png "
            "(without it: one person per connected body region, see --min-person-pixels), the photo NAME.jpg/.jpeg/"
            ".png beside it or in --images"),
    "openpose": ("openpose", "DIR", "folder of OpenPose NAME_keypoints.json files (BODY_25 or COCO-18; confidences "
                 "kept as keypoint weights), photos beside them or in --images"),
    "densepose_results": ("densepose-results", "JSON", "DensePose challenge results (uv_shape/uv_data per box)"),
    "detectron2_dump": ("detectron2-dump", "PKL", "detectron2 DensePose 'apply_net dump' pickle (needs --trust-pickle)"),
    "densepose_pickle": ("densepose-pickle", "PKL", "DensePose single-annotation pickle (demo_dp_single_ann.pkl)"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", metavar="PROJECT", help="project folder (created if missing)")
    source = parser.add_mutually_exclusive_group(required=True)
    for dest, (kind, metavar, help_text) in _SOURCES.items():
        source.add_argument(f"--{kind}", dest=dest, metavar=metavar, help=help_text)
    parser.add_argument("--images", metavar="DIR", help="folder holding the images the annotations name "
                        "(--iuv: the photos, when they are not beside the IUV images)")
    parser.add_argument("--iuv-order", default="auto", metavar="ORDER", choices=IUV_ORDERS,
                        help="--iuv: what the IUV png's R, G, B channels hold: VUI = DensePose's own output (R = V, "
                        "G = U, B = part index), IUV = part index in red, or any order of I, U, V; default auto: the "
                        "part channel is the one with values 0..24 and U = V = 0 where it is 0, U taken as green")
    parser.add_argument("--min-person-pixels", type=int, default=50, metavar="N",
                        help="--iuv: people (INDS instances or, without INDS, connected regions) with fewer body "
                        "pixels are left out; regions under a tenth of the largest join their nearest person "
                        "(default 50)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="I trust this pickle file (unpickling can run code hidden in the file)")
    parser.add_argument("--points-per-part", type=int, default=14, metavar="N",
                        help="dense points sampled per part from IUV / results inputs (default 14)")
    parser.add_argument("--seed", type=int, default=0, help="seed of that sampling (default 0)")
    parser.add_argument("--min-score", type=float, default=0.5, help="drop detections below this score (default 0.5)")
    parser.add_argument("--skip-missing-images", action="store_true",
                        help="results inputs: leave out detections whose image is not in --images")
    parser.add_argument("--detect-keypoints", action="store_true",
                        help="give people without keypoints 2D keypoints from the offline pose detector (MediaPipe "
                        "BlazePose, one crop per person box; install it once with `deformlearn detector install`)")
    parser.add_argument("--template", default="builtin", metavar="builtin|NPZ",
                        help="template of a new project (default: the built-in one)")
    parser.add_argument("--no-correspondences", action="store_true", help="do not map dense points to the template")


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.densepose.readers import read_people
    from deformlearn.core.project.importing import check_people, import_people, load_project_template
    from deformlearn.core.project.job_lock import project_job
    from deformlearn.core.project.store import DB_NAME, Project

    dest = next(d for d in _SOURCES if getattr(args, d) is not None)
    kind, source = _SOURCES[dest][0], getattr(args, dest)
    # Read and check everything before touching the project, so a bad input leaves it as it was.
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", KeypointLayoutNote)
        people = read_people(kind, source, images_dir=args.images, trust_pickle=args.trust_pickle,
                             points_per_part=args.points_per_part, seed=args.seed, min_score=args.min_score,
                             skip_missing_images=args.skip_missing_images, iuv_order=args.iuv_order,
                             min_person_pixels=args.min_person_pixels)
    detected = _detect_keypoints(people) if args.detect_keypoints else None
    if detected is not None:
        people, detected = detected
    check_people(people)  # before Project.create: a refused input leaves no empty project behind
    root = Path(args.project)
    exists = (root / DB_NAME).is_file()
    if not exists and args.template != "builtin":
        args.template = str(Path(args.template).absolute())
    if exists and args.template != "builtin":
        print(f"note: --template ignored: {root} is already a project (it keeps its template)")
    project = Project.open(root) if exists else Project.create(root, template=args.template)
    with project, project_job(project.root, "import"):
        template = None if args.no_correspondences else load_project_template(project)
        report = import_people(project, people, template)
        summary = project.summary()
    print(f"read {report.read} people ({report.with_dense} with dense points) from {source}")
    for note in notes:
        if issubclass(note.category, KeypointLayoutNote):
            print(f"note: {note.message}")
        else:
            warnings.showwarning(note.message, note.category, note.filename, note.lineno)
    if detected is not None:
        print(detected)
    print(f"added {report.added} new people to {project.root} ({report.already_present} were already there)")
    for overlap in report.overlaps:
        print(f"note: {overlap}")
    missing = sorted({p.image_file for p in people if p.image_missing})
    if missing:
        print(f"note: {len(missing)} image(s) are not on disk, e.g. {missing[0]}: their people are keypoint-only and "
              "keep the annotation's image size; registration and the lifter use them, overlays and the regressor "
              "need the images (put the image files at those paths)")
    if report.template_key and not math.isnan(report.residual_mean):
        print(f"correspondences to {report.template_key}: mean UV residual {report.residual_mean:.4f}")
    print(f"project now holds {summary['persons']} people on {summary['images']} images")
    return 0


def _detect_keypoints(people: list) -> tuple[list, str]:
    """(`people` with detected keypoints for those that have no visible keypoint (core.detection), the line
    saying for how many, naming the first people left without)."""
    from dataclasses import replace

    from deformlearn.core.cli.parser import CommandError
    from deformlearn.core.detection import DetectorError, DetectorNotInstalled, PoseDetector, detect_keypoints

    todo = [k for k, p in enumerate(people) if not (p.keypoints[:, 2] > 0).any()]
    try:
        with PoseDetector() as detector:
            keypoints, report = detect_keypoints([people[k] for k in todo], detector)
    except (DetectorNotInstalled, DetectorError) as exc:
        raise CommandError(f"--detect-keypoints: {exc}") from exc
    people = list(people)
    for k, kp in zip(todo, keypoints):
        people[k] = replace(people[k], keypoints=kp)
    none = [people[k].source_key for k, kp in zip(todo, keypoints) if not (kp[:, 2] > 0).any()]
    return people, (f"detected keypoints for {report.found} of {report.people} people without any"
                    + (f" ({report.no_image} have no image on disk)" if report.no_image else "")
                    + none_found(none))
