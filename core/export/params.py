"""Fit parameter files (JSON and NPZ, one schema) and a SPIN-style training-set npz.

Schema (`SCHEMA_VERSION` 1; the same flat keys in both files, JSON holding lists, NPZ holding arrays, never
pickled objects):
- `schema_version` (int), `format` = "deformlearn-fit", `template` (name), `num_vertices` (int: the
  template's vertices, seam vertices split per DensePose chart: what `--uv` meshes hold),
  `num_vertices_welded` (int: the seams merged: what OBJ/PLY/GLB meshes without `--uv` hold),
  `joint_names` (24 SMPL names, SMPL order).
- Body: `pose` (23, 3) axis-angle in radians (rotation vector, right-handed) of joints 1..23 relative to
  their parent, axes of the template's rest frame (SMPL's: metres, y up, facing +z, body-left +x), the
  same convention as SMPL's body_pose; `scales` (24,) segment scales (1 = template size; segment j is
  scaled isotropically about joint j). No shape coefficients: body shape is the segment scales.
- Camera (weak perspective, `x = s * (R X)[:2] + t`, X body-frame metres with the root joint at the origin):
  `rotation` (3, 3) body frame -> camera frame (x right, y down, z away from the viewer), row-major, proper
  rotation; `scale` () normalised units per metre; `translation` (2,) normalised-frame position of the root.
  The normalised frame is the person's square box (`core.registration.data`): pixels p map to
  (p - box_centre_px) / box_half_side_px. In pixels: `camera_scale_px` () = box_half_side_px * scale
  (pixels per metre) and `camera_translation_px` (2,) = box_half_side_px * translation + box_centre_px.
- `global_orient_camera` (3,) axis-angle of `rotation` (SMPL/SPIN-style global orientation in the camera
  frame, y down); `global_orient_canonical` (3,) axis-angle of diag(1, -1, -1) @ rotation (y up).
- Posed joints: `joints_body_m` (24, 3) body frame metres, root at the origin; `joints_image_px` (24, 3)
  image frame (x, y pixels, z depth in pixels, see `core.export.common`).
- Person: `person_id`, `round_index`, `fit_status` ("converged" = the fit did not fail; whether the
  optimiser converged is metric `converged`, 1 or 0), `quality` (the verdict: "good", "poor", "degenerate",
  "" for fits judged before verdicts existed; core.registration.quality), `quality_flags` (its reasons, a
  list of names), `review_status` ("unreviewed", "accepted", "rejected"), `image_file`, `image_size` (2,) width, height,
  `bbox_xywh` (4,) pixels, `box_centre_px` (2,), `box_half_side_px` (); metrics as `metric_names` (M,) +
  `metric_values` (M,).
- SMPL backend only (template name starting "smpl"): `smpl_global_orient` (3,) = global_orient_camera,
  `smpl_body_pose` (69,) = pose flattened, `smpl_betas` (10,) zeros and `smpl_betas_estimated` = false
  (betas are not estimated: the body shape is in `scales`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch

from deformlearn.core.body.rotations import rotmat_to_axis_angle
from deformlearn.core.body.skeletons import SMPL_JOINT_NAMES
from deformlearn.core.body.template import Template
from deformlearn.core.export.common import FRONTAL, ExportError, atomic_write, pose_fit
from deformlearn.core.project.records import to_json
from deformlearn.core.registration.data import square_box

SCHEMA_VERSION = 1
FORMAT_NAME = "deformlearn-fit"
#: key -> shape of the numeric fields `load_params` checks (() = scalar).
REQUIRED_SHAPES = {"pose": (23, 3), "scales": (24,), "rotation": (3, 3), "scale": (), "translation": (2,)}
STRING_KEYS = ("format", "template", "image_file", "fit_status", "quality", "review_status")
INT_KEYS = ("schema_version", "num_vertices", "num_vertices_welded", "person_id", "round_index")


def is_smpl_template(template: Template) -> bool:
    """True for the SMPL backend (`core.body.smpl_loader` names its templates "smpl...")."""
    return template.name.lower().startswith("smpl")


def _axis_angle(rotation: np.ndarray) -> np.ndarray:
    return rotmat_to_axis_angle(torch.as_tensor(rotation, dtype=torch.float64)[None])[0].numpy()


def fit_params(project, person_id: int) -> dict | None:
    """The current fit of a person (the one its review refers to) with what maps it to image pixels, or
    None when there is no fit.

    Returns the fit's params (pose, scales, rotation, scale, translation; normalised frame) plus person_id,
    round_index, fit_status, quality, quality_flags (list of str), review_status, metrics (dict), image_file,
    image_size, bbox_xywh, box_centre_px, box_half_side_px.
    """
    fit = project.current_fit(int(person_id))
    if fit is None:
        return None
    person = project.person(int(person_id))
    centre, half = square_box(person.bbox)
    params = {k: np.asarray(v, dtype=np.float64) for k, v in fit.params.items() if k in REQUIRED_SHAPES}
    flags = fit.metrics.get("quality_flags")
    params.update(person_id=int(person_id), round_index=int(fit.round_index), fit_status=str(fit.status),
                  quality=str(fit.metrics.get("quality") or ""),
                  quality_flags=[f for f in flags.split(",") if f] if isinstance(flags, str) else [],
                  review_status=str(fit.review_status),
                  metrics={str(k): float(v) for k, v in fit.metrics.items() if not isinstance(v, str)},  # verdicts stay out
                  image_file=str(person.image_file),
                  image_size=np.asarray(person.image_size, dtype=np.int64),
                  bbox_xywh=np.asarray(person.bbox, dtype=np.float64), box_centre_px=centre,
                  box_half_side_px=np.float64(half))
    return params


def params_record(params: dict, template: Template) -> dict:
    """The full schema record (flat dict of numpy values and strings) for one fit's `params`."""
    record: dict = {"schema_version": SCHEMA_VERSION, "format": FORMAT_NAME, "template": template.name,
                    "num_vertices": template.num_vertices,
                    "num_vertices_welded": int(len(np.unique(template.weld_index))), "joint_names": np.asarray(SMPL_JOINT_NAMES)}
    image = pose_fit(template, params, "image")
    for key, shape in REQUIRED_SHAPES.items():
        value = np.asarray(params[key], dtype=np.float64)
        if value.shape != shape:
            raise ExportError(f"fit parameter '{key}' has shape {value.shape}, expected {shape}")
        record[key] = value
    half = np.float64(params.get("box_half_side_px", 1.0))
    centre = np.asarray(params.get("box_centre_px", np.zeros(2)), dtype=np.float64)
    record.update(box_centre_px=centre, box_half_side_px=half, camera_scale_px=half * record["scale"],
                  camera_translation_px=half * record["translation"] + centre,
                  global_orient_camera=_axis_angle(record["rotation"]),
                  global_orient_canonical=_axis_angle(FRONTAL @ record["rotation"]),
                  joints_body_m=image.body_joints, joints_image_px=image.joints)
    for key in ("person_id", "round_index"):
        if key in params:
            record[key] = int(params[key])
    for key in ("image_file", "fit_status", "quality", "review_status"):
        if key in params:
            record[key] = str(params[key])
    if "quality_flags" in params:
        record["quality_flags"] = np.asarray([str(f) for f in params["quality_flags"]], dtype=str)
    for key in ("image_size", "bbox_xywh"):
        if key in params:
            record[key] = np.asarray(params[key])
    metrics = params.get("metrics") or {}
    record["metric_names"] = np.asarray(sorted(metrics), dtype=str)
    record["metric_values"] = np.asarray([metrics[k] for k in sorted(metrics)], dtype=np.float64)
    if is_smpl_template(template):
        record.update(smpl_global_orient=record["global_orient_camera"],
                      smpl_body_pose=record["pose"].reshape(69), smpl_betas=np.zeros(10),
                      smpl_betas_estimated=np.bool_(False))
    return record


def export_params(params: dict, path: str | Path, template: Template) -> Path:
    """Write one fit's parameters as .json or .npz (by suffix) in the schema above, atomically."""
    path = Path(path)
    record = params_record(params, template)
    kind = path.suffix.lower()
    if kind == ".json":
        doc = {k: (v.tolist() if isinstance(v, np.ndarray) else v.item() if isinstance(v, np.generic) else v)
               for k, v in record.items()}
        return atomic_write(path, (to_json(doc, indent=1) + "\n").encode("utf-8"))
    if kind == ".npz":
        arrays = {k: np.asarray(v) for k, v in record.items()}
        return atomic_write(path, lambda f: np.savez(f, **arrays))
    raise ExportError(f"{path}: parameter format '{kind}' not supported (expected .json or .npz)")


def load_params(path: str | Path) -> dict:
    """Read a parameter file written by `export_params` (never unpickles); the returned dict poses the same
    mesh with `core.export.common.pose_fit`. Numeric fields come back as float64/int64 arrays, the keys in
    STRING_KEYS as str, INT_KEYS as int."""
    path = Path(path)
    if not path.is_file():
        raise ExportError(f"{path}: parameter file not found")
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
        elif path.suffix.lower() == ".npz":
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
                raw = {k: data[k] for k in data.files}
        else:
            raise ExportError(f"{path}: expected a .json or .npz parameter file")
    except (ValueError, OSError) as exc:
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"{path}: not a readable parameter file ({exc})") from exc
    if str(np.asarray(raw.get("format", ""))) != FORMAT_NAME:
        raise ExportError(f"{path}: not a deformlearn fit parameter file (format {raw.get('format')!r})")
    version = int(np.asarray(raw.get("schema_version", -1)))
    if not 1 <= version <= SCHEMA_VERSION:
        raise ExportError(f"{path}: schema_version {version} is not supported (this program reads 1.."
                          f"{SCHEMA_VERSION}); update deformlearn")
    params: dict = {}
    for key, value in raw.items():
        if key in STRING_KEYS:
            params[key] = str(np.asarray(value))
        elif key in INT_KEYS:
            params[key] = int(np.asarray(value))
        else:
            arr = np.asarray(value)
            params[key] = arr.astype(np.float64) if arr.dtype.kind in "iuf" and key not in ("image_size",) else arr
    for key, shape in REQUIRED_SHAPES.items():
        if key not in params or params[key].shape != shape:
            got = None if key not in params else params[key].shape
            raise ExportError(f"{path}: '{key}' is missing or has shape {got}, expected {shape}")
    params["metrics"] = dict(zip((str(n) for n in params.pop("metric_names", [])),
                                 (float(v) for v in params.pop("metric_values", []))))
    return params


def export_spin_npz(project, person_ids, path: str | Path) -> Path:
    """Write a SPIN-style training-set npz of the people's latest fits (people without a fit are left out).

    Arrays (N people, SPIN's names and conventions where they exist):
    imgname (N,) str: image path relative to the project folder (absolute if outside it);
    center (N, 2) bbox centre, pixels; scale (N,) max(bbox w, h) / 200 (SPIN's);
    pose (N, 72) SMPL-convention axis-angle: global orientation in the camera frame (x right, y down,
    z away; `global_orient_camera`) then the 23 joints' relative rotations;
    shape (N, 10) zeros and has_shape (N,) zeros: betas are not estimated (see segment_scales);
    has_smpl (N,) 1 with the SMPL backend, else 0 (the pose then refers to the built-in template's skeleton);
    part (N, 24, 3) the 24 posed joints projected to image pixels (x, y) with visibility 1, in SMPL joint
    order (not SPIN's 24-joint order); S (N, 24, 4) the 3D joints in the camera frame, metres, root at the
    origin, with confidence 1;
    extras: segment_scales (N, 24), cam_px (N, 3) [scale px per metre, t_x px, t_y px], keypoints (N, 17, 3)
    the annotated COCO keypoints (x, y pixels, visibility), person_id (N,), schema_version, template.
    """
    from deformlearn.core.export.common import body_model, pose_fits
    from deformlearn.core.project.importing import load_project_template

    template = load_project_template(project)
    person_ids = [int(p) for p in person_ids]
    fits = [p for p in (fit_params(project, pid) for pid in person_ids) if p is not None]
    if not fits:
        raise ExportError(f"{path}: none of the {len(person_ids)} people has a fit to export")
    posed = pose_fits(body_model(template), fits, "image")
    root = Path(project.root)
    names, rows = [], {k: [] for k in ("center", "scale", "pose", "part", "S", "segment_scales", "cam_px",
                                       "keypoints", "person_id")}
    for params, fit in zip(fits, posed):
        image = Path(params["image_file"])
        names.append(image.relative_to(root).as_posix() if image.is_relative_to(root) else str(image))
        bbox = params["bbox_xywh"]
        half, centre = float(params["box_half_side_px"]), params["box_centre_px"]
        camera_joints = fit.body_joints @ params["rotation"].T
        rows["center"].append(bbox[:2] + bbox[2:] / 2)
        rows["scale"].append(max(bbox[2], bbox[3]) / 200.0)
        rows["pose"].append(np.concatenate([_axis_angle(params["rotation"]), params["pose"].reshape(69)]))
        rows["part"].append(np.concatenate([fit.joints[:, :2], np.ones((24, 1))], 1))
        rows["S"].append(np.concatenate([camera_joints, np.ones((24, 1))], 1))
        rows["segment_scales"].append(params["scales"])
        rows["cam_px"].append(np.concatenate([[half * params["scale"]], half * params["translation"] + centre]))
        rows["keypoints"].append(project.person(params["person_id"]).keypoints)
        rows["person_id"].append(params["person_id"])
    n = len(fits)
    arrays = {k: np.asarray(v, dtype=np.int64 if k == "person_id" else np.float64) for k, v in rows.items()}
    arrays.update(imgname=np.asarray(names, dtype=str), shape=np.zeros((n, 10)), has_shape=np.zeros(n),
                  has_smpl=np.full(n, 1.0 if is_smpl_template(template) else 0.0),
                  schema_version=np.int64(SCHEMA_VERSION), template=np.asarray(template.name))
    return atomic_write(Path(path), lambda f: np.savez(f, **arrays))


__all__ = ["SCHEMA_VERSION", "FORMAT_NAME", "is_smpl_template", "fit_params", "params_record", "export_params",
           "load_params", "export_spin_npz"]
