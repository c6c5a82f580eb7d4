"""`deformlearn template`: describe the body template and render it (parts and DensePose atlas)."""

from __future__ import annotations

import argparse

import numpy as np

HELP = "describe the body template; --render writes front, side and back views"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--render", metavar="PNG", help="write a picture of the template to this PNG file")
    parser.add_argument("--atlas", metavar="PATH",
                        help="texture atlas with DensePose's tile layout for the textured row, e.g. DensePose's "
                             "texture_from_SURREAL.png (default: the built-in procedural atlas)")


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.skeletons import DENSEPOSE_PART_NAMES
    from deformlearn.core.template import load_builtin_template

    t = load_builtin_template()
    welded = len(np.unique(t.weld_index))
    print(f"{t.name}: {t.num_vertices} vertices ({welded} surface points before cutting part seams), "
          f"{len(t.faces)} faces, {len(t.joint_names)} joints")
    lo, hi = t.rest_vertices.min(0), t.rest_vertices.max(0)
    print(f"height {hi[1] - lo[1]:.3f} m, arm span {hi[0] - lo[0]:.3f} m")
    counts = np.bincount(t.face_part, minlength=len(DENSEPOSE_PART_NAMES))
    print("faces per DensePose part:")
    for part in range(1, len(DENSEPOSE_PART_NAMES)):
        print(f"  {part:2d} {DENSEPOSE_PART_NAMES[part]:<24s} {counts[part]:6d}")
    if args.render:
        from deformlearn.core.template_render import render_template_sheet

        render_template_sheet(t, args.render, atlas_path=args.atlas)
        print(f"wrote {args.render}")
    return 0
