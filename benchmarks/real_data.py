"""Benchmark: fits of real people from ../shared/data, before and after the staged schedule and the priors.
Prints one JSON line.

- The two DensePose inference outputs (demo_im: a walking pedestrian, the largest INDS instance; seated_im:
  a seated man), dense points only (no keypoints): |trunk pitch| (pelvis -> neck out of the image plane,
  degrees; upright people should be near 0), each thigh's angle below the horizontal (hip -> knee, left and
  right, degrees; standing = near 90, seated seen from the side = near 0), dense 2D residual (px of the
  256 frame over the box).
- The four Human3.6M frames, keypoints only (the mmpose test set's 2D joints mapped to COCO-17), against
  their 3D truth: MPJPE (bone-length rescale) and PA-MPJPE in mm over the scored keypoints, keypoint 2D
  residual, |trunk pitch| of the fit and of the truth.

"before" is the round-1 preset as a single stage (what `register` and the app ran until now; keypoint-only
people through it as well); "after" is `FitSchedule.single_fit` (dense) and `FitSchedule.keypoints_only`
(keypoints). --variants adds prior weights to try: "name:w_pose_prior:w_upright,...".

    python benchmarks/real_data.py [--threads 1] [--renders /tmp/work/renders] [--variants ...] [--template FILE]

--template fits with another template file (e.g. one re-charted by resources/rechart_template.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.template import load_builtin_template, load_template
from deformlearn.core.densepose.correspondence import map_to_vertices
from deformlearn.core.densepose.iuv_images import read_iuv_inference
from deformlearn.core.lifting.evaluation import H36M_SCORED_COCO, load_h36m_body3d
from deformlearn.core.metrics import mpjpe_mm, pa_mpjpe_mm
from deformlearn.core.registration.data import PersonTargets, collate
from deformlearn.core.registration.fitter import BodyParams
from deformlearn.core.registration.quality import judge_fit, trunk_pitch_deg
from deformlearn.core.registration.schedule import FitSchedule, register_schedule
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.rounds.metrics import fit_keypoints_camera

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = {"pedestrian": "demo_im", "seated": "seated_im"}


def photo_person(template, stem: str) -> PersonTargets:
    """The largest person of a DensePose output as registration targets (dense points, no keypoints)."""
    folder = SHARED / "densepose"
    people = read_iuv_inference(folder / f"{stem}.jpg", folder / f"{stem}_IUV.png", folder / f"{stem}_INDS.png")
    p = max(people, key=lambda a: len(a.dense))
    index, _ = map_to_vertices(template, p.dense.part, p.dense.uv)
    return PersonTargets.from_pixels(stem, p.bbox, p.dense.xy, index, np.zeros((17, 3)))


def h36m_people() -> tuple[list[PersonTargets], np.ndarray, np.ndarray]:
    """Human3.6M frames as keypoint-only targets, their (P, 17, 3) camera-frame truth (metres) and mask."""
    frames = load_h36m_body3d(SHARED / "h36m" / "test_h36m_body3d.npz")
    people = []
    for i, kp in enumerate(frames.keypoints_2d):
        vis = frames.score_mask[i]
        xy = kp[vis, :2]
        lo, hi = xy.min(0), xy.max(0)
        pad = 0.1 * (hi - lo)
        bbox = np.array([*(lo - pad), *(hi - lo + 2 * pad)])
        kp3 = np.concatenate([kp[:, :2], vis[:, None].astype(float)], 1)
        people.append(PersonTargets.from_pixels(frames.image_names[i], bbox, np.zeros((0, 2)), np.zeros(0, np.int64), kp3))
    return people, frames.joints3d_cam, frames.score_mask


def thigh_angles_deg(body: BodyModel, params: dict) -> list[float]:
    """[left, right] hip -> knee angle below the horizontal (degrees; 90 = thigh hanging straight down, 0 =
    horizontal, as seated people seen from the side), measured in the camera frame's vertical plane that holds
    the thigh: the elevation of the thigh vector out of the camera's horizontal (x, z) plane, y down."""
    with torch.no_grad():
        b = BodyParams.from_dicts([params])
        joints = body(b.pose, b.scales, None).joints[0].numpy()
    rot = np.asarray(params["rotation"]).reshape(3, 3)
    out = []
    for hip, knee in ((1, 4), (2, 5)):
        v = rot @ (joints[knee] - joints[hip])
        out.append(float(np.degrees(np.arctan2(v[1], np.hypot(v[0], v[2])))))
    return out


def viewer_vertices(body: BodyModel, params: dict) -> np.ndarray:
    """(V, 3) fitted mesh in the viewer frame (F^T R X: y up, camera on +z)."""
    with torch.no_grad():
        b = BodyParams.from_dicts([params])
        verts = body(b.pose, b.scales, None).vertices[0].numpy()
    F = np.diag([1.0, -1.0, -1.0])
    return verts @ (F @ np.asarray(params["rotation"]).reshape(3, 3)).T


def fit(body, people, schedule):
    return register_schedule(body, collate(people), schedule).fits


def photo_figures(body, people, schedule) -> dict:
    out = {}
    for person, f in zip(people, fit(body, people, schedule)):
        name = next(k for k, v in PHOTOS.items() if v == person.person_id)
        out[name] = {"pitch_deg": round(trunk_pitch_deg(body, f.params), 1), "dense_px": round(f.dense_error_px, 2),
                     "quality": judge_fit(f, person, body)[0]}
        out[name]["thigh_below_horizontal_deg"] = [round(a, 1) for a in thigh_angles_deg(body, f.params)]
        out[name]["_params"] = f.params
    return out


def h36m_figures(body, people, truth, mask, schedule) -> dict:
    fits = fit(body, people, schedule)
    pred = fit_keypoints_camera(body, [f.params for f in fits])
    m = mask.copy()
    m[:, [k for k in range(17) if k not in H36M_SCORED_COCO]] = False
    trunks = [t[5:7].mean(0) - t[11:13].mean(0) for t in truth]  # shoulders' mid minus hips' mid, camera frame
    truth_pitch = [np.degrees(np.arctan2(v[2], np.hypot(v[0], v[1]))) for v in trunks]
    return {"mpjpe_mm": round(mpjpe_mm(pred, truth, m), 1), "pa_mpjpe_mm": round(pa_mpjpe_mm(pred, truth, m), 1),
            "keypoint_px": round(float(np.mean([f.keypoint_error_px for f in fits])), 2),
            "median_abs_pitch_deg": round(float(np.median([abs(trunk_pitch_deg(body, f.params)) for f in fits])), 1),
            "truth_median_abs_pitch_deg": round(float(np.median(np.abs(truth_pitch))), 1)}


def render(template, body, figures: dict, folder: Path, tag: str) -> list[str]:
    from deformlearn.core.render.overlay import write_png
    from deformlearn.core.render.template_views import render_views

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in figures.items():
        picture = render_views(template, viewer_vertices(body, fig["_params"]), views=("front", "side"), size=360)
        path = folder / f"{name}_{tag}_front_side.png"
        write_png(path, np.ascontiguousarray(picture[..., ::-1]))  # RGB -> BGR
        written.append(str(path))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--renders", default=None, help="folder for front + side renders of the photo fits")
    parser.add_argument("--variants", default="", help="extra prior weights: name:w_pose_prior:w_upright,...")
    parser.add_argument("--template", default=None, help="template file (default: the built-in one)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    template = load_builtin_template() if args.template is None else load_template(args.template)
    body = BodyModel(template)
    base = {"num_threads": args.threads, "progress_every": 1000}
    photos = [photo_person(template, stem) for stem in PHOTOS.values()]
    h36m, truth, mask = h36m_people()
    before = RegistrationSettings.round1(**base)
    schedules = {"before": (FitSchedule.single(before), FitSchedule.single(before)),
                 "after": (FitSchedule.single_fit(**base), FitSchedule.keypoints_only(FitSchedule.single_fit(**base).stages[0]))}
    for spec in filter(None, args.variants.split(",")):
        name, prior, upright = spec.split(":")
        stiff = FitSchedule.single_fit(**base, w_pose_prior=float(prior), w_upright=float(upright))
        schedules[name] = (stiff, FitSchedule.keypoints_only(stiff.stages[0]))
    result, renders = {}, []
    for name, (dense, keypoints) in schedules.items():
        figures = photo_figures(body, photos, dense)
        if args.renders:
            renders += render(template, body, figures, Path(args.renders), name)
        result[name] = {**{k: {q: v for q, v in f.items() if q != "_params"} for k, f in figures.items()},
                        "h36m": h36m_figures(body, h36m, truth, mask, keypoints)}
    print(json.dumps({"benchmark": "real_data", **result, "renders": renders,
                      "seconds": round(time.perf_counter() - started, 1)}))


if __name__ == "__main__":
    main()
