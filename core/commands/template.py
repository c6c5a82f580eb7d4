"""`deformlearn template`: describe the body template and render it (parts and DensePose atlas)."""

from __future__ import annotations

import argparse

HELP = "describe the body template; --render writes front, side and back views"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--render", metavar="PNG", help="write a picture of the template to this PNG file")


def run(args: argparse.Namespace) -> int:
    from deformlearn.core.template import load_builtin_template

    t = load_builtin_template()
    print(f"{t.name}: {t.num_vertices} vertices, {len(t.faces)} faces, {len(t.joint_names)} joints")
    if args.render:
        from deformlearn.core.template_render import render_template_sheet

        render_template_sheet(t, args.render)
        print(f"wrote {args.render}")
    return 0
