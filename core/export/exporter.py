"""Exports of fits that other tools read: posed meshes (OBJ, PLY, GLB), a rigged glTF, parameter files.

This module is the entry point (`export_fits` and the per-format writers, re-exported here); frames and
atomic writes are in `core.export.common`, the rigged glTF in `core.export.gltf`, the parameter files'
schema in `core.export.params`. Mesh frames: "image" (pixels, x right, y down, z away from the viewer: the
mesh overlays the image) or "canonical" (metres, y up); see `core.export.common`.

Meshes are welded (seam duplicates merged through `Template.weld_index`, so the vertex count is the number
of distinct surface points) unless `uv=True`, which keeps the duplicates so that each vertex has one
texture coordinate into the DensePose atlas layout (`core.render.offscreen.atlas_texcoords`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.cancel import CancelToken, check_token, raise_if_cancelled
from deformlearn.core.export.common import (
    DEFAULT_FORMATS,
    FORMATS,
    FRAMES,
    MESH_FORMATS,
    ExportError,
    PosedFit,
    atomic_write,
    body_model,
    frame_transform,
    pose_fit,
    pose_fits,
    weld,
)
from deformlearn.core.export.gltf import export_rigged_gltf
from deformlearn.core.export.params import (
    SCHEMA_VERSION,
    export_params,
    export_spin_npz,
    fit_params,
    load_params,
)


def export_mesh(vertices: np.ndarray, faces: np.ndarray, path: str | Path, *, uv: np.ndarray | None = None,
                texture: np.ndarray | None = None) -> list[Path]:
    """Write one triangle mesh; the format follows the suffix (.obj, .ply, .glb). Returns the files written.

    vertices: (V, 3) float; faces: (F, 3) int, counter-clockwise from outside; uv: optional (V, 2) texture
    coordinates (s right, t up); texture: optional (H, W, 3) uint8 RGB image for them (OBJ: written beside
    it as STEM.png with STEM.mtl; GLB: embedded; PLY: uv only). The vertex order and count are kept as given.
    """
    import trimesh
    from PIL import Image

    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind not in MESH_FORMATS:
        raise ExportError(f"{path}: mesh format '{kind}' not supported (expected {MESH_FORMATS})")
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ExportError(f"{path}: expected vertices (V, 3) and faces (F, 3), got {vertices.shape}, {faces.shape}")
    if uv is not None and np.shape(uv) != (len(vertices), 2):
        raise ExportError(f"{path}: uv has shape {np.shape(uv)}, expected ({len(vertices)}, 2)")
    visual = None
    if uv is not None:
        material = None if texture is None else trimesh.visual.material.SimpleMaterial(
            image=Image.fromarray(np.asarray(texture, dtype=np.uint8)), name=path.stem)
        visual = trimesh.visual.TextureVisuals(uv=np.asarray(uv, dtype=np.float64), material=material)
    mesh = trimesh.Trimesh(vertices, faces, visual=visual, process=False, validate=False)
    if kind == "obj":
        mtl = path.with_suffix(".mtl").name
        text, extra = trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=uv is not None,
                                                      return_texture=True, mtl_name=mtl)
        written = [atomic_write(path.parent / name, data) for name, data in extra.items()]
        return written + [atomic_write(path, text.encode("utf-8"))]
    if kind == "ply":
        data = trimesh.exchange.ply.export_ply(mesh, encoding="binary", vertex_normal=False)
    else:
        data = trimesh.exchange.gltf.export_glb(trimesh.Scene(mesh))
    return [atomic_write(path, data)]


def export_posed_mesh(template: Template, posed: PosedFit, path: str | Path, *, uv: bool = False,
                      atlas: np.ndarray | None = None) -> list[Path]:
    """Write a posed fit as a mesh: welded (V_w vertices), or with `uv=True` all V vertices with atlas
    texture coordinates and the atlas image (`atlas` (H, W, 3) uint8, None = the built-in atlas)."""
    if not uv:
        keep, faces = weld(template)
        return export_mesh(posed.vertices[keep], faces, path)
    from deformlearn.core.render.offscreen import atlas_texcoords, load_atlas

    image = load_atlas(None) if atlas is None else np.asarray(atlas)
    texcoords = atlas_texcoords(template.vertex_part, template.vertex_uv, image.shape)
    return export_mesh(posed.vertices, template.faces, path, uv=texcoords, texture=image)


@dataclass(frozen=True)
class ExportProgress:
    """One export step done: `done` of `total` people, the files written for person `person_id`."""

    done: int
    total: int
    person_id: int
    files: tuple[Path, ...]


def _file_stem(person_id: int) -> str:
    return f"person_{int(person_id):06d}"


def export_fits(project, person_ids: Iterable[int], out_dir: str | Path, *,
                formats: Sequence[str] = DEFAULT_FORMATS, frame: str = "image", uv: bool = False,
                progress: Callable[[ExportProgress], None] | None = None,
                cancel: CancelToken | None = None, stems: Mapping[int, str] | None = None) -> list[Path]:
    """Export the latest fit of each person to `out_dir`; returns every file written. `stems` names a person's
    files instead of person_NNNNNN (the app passes image + person index; the caller keeps them unique).

    Per person `person_NNNNNN.{obj,ply,glb}` (posed mesh in `frame`), `person_NNNNNN_rigged.glb` (skeleton,
    skin and fitted pose, canonical frame), `person_NNNNNN.{json,npz}` (parameters, see
    `core.export.params`); "spin" writes one `spin_train.npz` for all of them. People without a fit are
    skipped (reported through `progress` with no files). The cancel token is checked before each person and
    before each file; a cancelled export raises `Cancelled` (core/cancel.py), and the files written before
    it (`Cancelled.done`, the list of paths) are whole: no file is ever left half-written.
    """
    from deformlearn.core.project.importing import load_project_template

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ExportError(f"unknown export formats {unknown}: expected some of {FORMATS}")
    if frame not in FRAMES:
        raise ExportError(f"frame {frame!r}: expected one of {FRAMES}")
    cancel = check_token(cancel, "export_fits")
    ids = [int(p) for p in person_ids]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    template = load_project_template(project)
    body = body_model(template)
    written: list[Path] = []
    exported: list[int] = []
    for done, pid in enumerate(ids, start=1):
        raise_if_cancelled(cancel, f"export before person {pid} ({done} of {len(ids)})", written)
        params = fit_params(project, pid)
        files: list[Path] = []
        if params is not None:
            exported.append(pid)
            posed = pose_fits(body, [params], frame)[0]
            stem = out_dir / (stems[pid] if stems and pid in stems else _file_stem(pid))
            for fmt in formats:
                raise_if_cancelled(cancel, f"export of person {pid} before its {fmt} file", written + files)
                if fmt in MESH_FORMATS:
                    files += export_posed_mesh(template, posed, stem.with_suffix(f".{fmt}"), uv=uv)
                elif fmt == "gltf-rigged":
                    files.append(export_rigged_gltf(template, params, stem.with_name(stem.name + "_rigged.glb"),
                                                    uv=uv))
                elif fmt in ("json", "npz"):
                    files.append(export_params(params, stem.with_suffix(f".{fmt}"), template))
        written += files
        if progress is not None:
            progress(ExportProgress(done, len(ids), pid, tuple(files)))
    if "spin" in formats and exported:
        raise_if_cancelled(cancel, "export before spin_train.npz", written)
        written.append(export_spin_npz(project, exported, out_dir / "spin_train.npz"))
    return written


__all__ = [
    "FRAMES", "FORMATS", "DEFAULT_FORMATS", "MESH_FORMATS", "SCHEMA_VERSION", "ExportError", "ExportProgress",
    "PosedFit", "atomic_write", "body_model", "frame_transform", "pose_fits", "pose_fit", "weld", "export_mesh",
    "export_posed_mesh", "export_rigged_gltf", "export_params", "export_spin_npz", "fit_params", "load_params",
    "export_fits",
]
