"""Which template a project registers to: loading it, and checking a template before a project is pinned to it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from deformlearn.core.body.template import Template, TemplateError, load_builtin_template, load_template

if TYPE_CHECKING:
    from deformlearn.core.project.store import Project


def template_from_spec(spec: str, root: Path) -> Template:
    """The template `spec` names: "builtin" or a template .npz path, relative to `root` or absolute."""
    if spec == "builtin":
        return load_builtin_template()
    path = Path(spec)
    return check_template(load_template(path if path.is_absolute() else root / path), str(path))


def load_project_template(project: Project) -> Template:
    """The template the project registers to ("builtin" or a template .npz path, relative to the project
    or absolute)."""
    return template_from_spec(project.template, project.root)


def check_template(template: Template, source: str) -> Template:
    """Invariants `Template.validate` leaves to later stages; TemplateError naming `source` and the problem.

    weld_index: (V,) each in 0..V-1; rest_joints: (J, 3) finite; parents: (J,) a tree rooted at one -1 (no
    cycle, every parent index in range); skin_weights (V, J) and vertex_uv (V, 2) finite.
    """
    V = template.num_vertices
    weld = template.weld_index
    if weld.size and (weld.min() < 0 or weld.max() >= V):
        raise TemplateError(f"{source}: weld_index outside 0..{V - 1} (min {weld.min()}, max {weld.max()})")
    for name in ("rest_joints", "skin_weights", "vertex_uv", "keypoint_weights"):
        if not np.all(np.isfinite(getattr(template, name))):
            raise TemplateError(f"{source}: non-finite values in '{name}'")
    parents = template.parents
    J = len(parents)
    if (parents == -1).sum() != 1 or np.any((parents < -1) | (parents >= J)):
        raise TemplateError(f"{source}: parents must hold one root (-1) and indices in 0..{J - 1}, got {parents.tolist()}")
    for joint in range(J):
        seen, j = set(), joint
        while j != -1:
            if j in seen:
                raise TemplateError(f"{source}: joint parents form a cycle through joint {j}")
            seen.add(j)
            j = int(parents[j])
    return template
