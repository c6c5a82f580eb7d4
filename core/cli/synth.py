"""`deformlearn synth --n N --out PROJECT`: a synthetic DensePose-COCO-like project with exact ground truth."""

from __future__ import annotations

import argparse
import sys

HELP = "make a synthetic DensePose-COCO-like project with ground truth (demo, benchmark and test data)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, required=True, metavar="N", help="number of people")
    parser.add_argument("--out", required=True, metavar="PROJECT", help="new project folder")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--size", type=int, default=256, metavar="PX", help="square image size (default 256)")
    parser.add_argument("--people-per-image", type=int, default=1, metavar="K", help="people per image (default 1)")
    parser.add_argument("--points", type=int, nargs=2, default=(100, 150), metavar=("MIN", "MAX"),
                        help="dense points per person (default 100 150)")
    parser.add_argument("--points-at", choices=("vertices", "pixels"), default="vertices",
                        help="dense points at visible vertices (exact sub-pixel projections, the default) or at "
                             "pixel centres (as annotators click; ground truth holds the exact surface point)")
    parser.add_argument("--motion", metavar="NPZ", nargs="+",
                        help="motion files whose poses to use: AMASS SMPL-H .npz ('poses') or SMPL .npz ('pose' "
                             "(T, 72), as SPIN's and mmpose's datasets); with several, each person draws a file, "
                             "then a frame (default: poses sampled within joint limits)")
    parser.add_argument("--motion-jitter", type=float, default=0.0, metavar="RAD",
                        help="std of noise added to each joint's axis-angle of a motion pose (default 0)")
    parser.add_argument("--texture", metavar="PNG",
                        help="DensePose-layout atlas (e.g. texture_from_SURREAL.png; default: the built-in one)")
    parser.add_argument("--uv-noise", type=float, default=0.0, metavar="STD", help="noise on U and V (chart units)")
    parser.add_argument("--keypoint-noise", type=float, default=0.0, metavar="PX", help="noise on keypoints (pixels)")
    parser.add_argument("--occlusion", type=float, default=0.0, metavar="P",
                        help="probability of an occluding rectangle per image")
    parser.add_argument("--truncation", type=float, default=0.0, metavar="P",
                        help="probability of a person partly outside the image")
    parser.add_argument("--background", choices=("noise", "plain"), default="noise", help="image background")
    parser.add_argument("--template", default="builtin", metavar="builtin|NPZ", help="template of the project")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from deformlearn.core.synth.people import synthesize_project
    from deformlearn.core.synth.settings import SynthSettings

    settings = SynthSettings(
        count=args.n, seed=args.seed, image_size=args.size, people_per_image=args.people_per_image,
        points=tuple(args.points), motion=None if args.motion is None else tuple(args.motion),
        motion_jitter=args.motion_jitter, texture=args.texture, uv_noise=args.uv_noise,
        keypoint_noise=args.keypoint_noise, occlusion=args.occlusion, truncation=args.truncation,
        background=args.background, points_at=args.points_at,
    )
    template = args.template if args.template == "builtin" else str(Path(args.template).absolute())
    with tqdm(total=-(-args.n // args.people_per_image), unit="image", disable=not sys.stderr.isatty()) as bar:
        report = synthesize_project(args.out, settings, template=template,
                                    progress=lambda done, total: bar.update(done - bar.n))
    print(f"{args.out}: {report.people} people in {report.images} images, {report.points_mean:.0f} dense points "
          f"per person on average, rendered with {report.renderer} in {report.seconds:.1f} s")
    return 0
