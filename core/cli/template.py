"""`deformlearn template`: describe the body template and render it (parts and DensePose atlas)."""

from __future__ import annotations

import argparse

import numpy as np

HELP = "describe a body template (built-in, SMPL or npz); --render draws it, --save writes it for projects"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--smpl", metavar="DIR_OR_FILE",
                        help="build the template from SMPL model files (smplx's layout, .npz or .pkl)")
    source.add_argument("--template", metavar="NPZ", help="a template file written by --save (default: built-in)")
    parser.add_argument("--gender", default="neutral", choices=("neutral", "male", "female"),
                        help="which SMPL model file to read (with --smpl)")
    parser.add_argument("--uv-mat", metavar="MAT", help="DensePose's UV_Processed.mat: its exact part charts "
                        "for SMPL (with --smpl; without it the charts are computed from the mesh)")
    parser.add_argument("--save", metavar="NPZ", help="write the template here; use it with "
                        "`deformlearn import PROJECT --template NPZ ...` for a new project")
    parser.add_argument("--render", metavar="PNG", help="write a picture of the template to this PNG file")
    parser.add_argument("--atlas", metavar="PATH",
                        help="texture atlas with DensePose's tile layout for the textured row, e.g. DensePose's "
                             "texture_from_SURREAL.png (default: the built-in procedural atlas)")


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.body.skeletons import DENSEPOSE_PART_NAMES
    from deformlearn.core.body.template import load_builtin_template, load_template, save_template

    if args.uv_mat and not args.smpl:
        raise ValueError("--uv-mat needs --smpl (it maps SMPL's vertices to DensePose's charts)")
    if args.smpl:
        from deformlearn.core.body.smpl_loader import load_smpl_template

        t = load_smpl_template(args.smpl, gender=args.gender, uv_processed_mat=args.uv_mat)
    elif args.template:
        t = load_template(args.template)
    else:
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
        from deformlearn.core.render.template_views import render_template_sheet

        render_template_sheet(t, args.render, atlas_path=args.atlas)
        print(f"wrote {args.render}")
    if args.save:
        save_template(t, args.save)
        print(f"wrote {args.save}")
    return 0
