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

--round imports the two photos (all 13 people) into a temporary project, fits them with `deformlearn
register`, runs --rounds cpu-demo rounds (synthetic lifter, as for any project this small) and prints a second
line, "real_data_round": the pedestrian's and the seated man's current fit (dense px, verdict, which round)
after the single fit and after each round, and each round's own fit of them; --stiff-first-round /
--no-keep-better as in benchmarks/rounds.py. Measured (--rounds 2), pedestrian / seated man, dense px and
verdict of the current fit after `register`, round 1, round 2:
  before (round 1 stiff, every round fit current, refinement without the pose prior):
          3.07 good -> 4.04 poor (trunk_in_depth) -> 3.08 poor (implausible_pose)
          3.40 good -> 4.75 poor (trunk_in_depth) -> 3.22 poor (implausible_pose, trunk_in_depth)
  after:  3.07 good -> 3.07 good (round 1's own fit 3.17 good: the single fit stays) -> 3.02 good
          3.40 good -> 3.40 good (round 1's own 3.48 good) -> 3.37 good
  registration CPU seconds of round 1 (13 people): 1.14 before, 0.76 after.

--template fits with another template file (e.g. one re-charted by resources/rechart_template.py).
--detector adds, for the photos, the fits' keypoint error against the pose detector's keypoints (which the
fits do not see; `deformlearn detector install` first).

Measured (builtin template; --detector): pedestrian / seated man
  before: pitch -31.8 / -36.8 deg, thighs 60, 67 / 48, 52 deg, dense 4.07 / 4.86 px, keypoints vs detector
          7.39 / 10.25 px (both "poor": trunk_in_depth); H36M MPJPE 244.1, PA-MPJPE 137.8 mm, keypoints 15.2 px
  after:  pitch  -2.0 /  -3.4 deg, thighs 76, 80 / 60, 55 deg, dense 3.15 / 3.55 px, keypoints vs detector
          5.17 / 5.76 px (both "good"); H36M 156.0 / 111.4 mm, keypoints 2.8 px
  after, --template re-charted by resources/rechart_template.py (torso V by arc length): pitch -1.8 / -4.4,
          thighs 78, 80 / 61, 55, dense 3.08 / 3.41 px, keypoints vs detector 5.13 / 5.77 px; H36M unchanged.
The seated man's thighs: BlazePose's own 3D landmarks put them at 47 / 49 deg below the horizontal (he perches
on a bar stool); see schedule.SINGLE_FIT_PRIORS for what pinning them horizontal costs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.template import load_builtin_template, load_template
from deformlearn.core.densepose.correspondence import map_to_vertices
from deformlearn.core.densepose.iuv_images import read_iuv_inference
from deformlearn.core.densepose.records import PersonAnnotation
from deformlearn.core.detection.detector import PoseDetector, detect_keypoints
from deformlearn.core.detection.environment import DetectorNotInstalled
from deformlearn.core.lifting.evaluation import H36M_SCORED_COCO, load_h36m_body3d
from deformlearn.core.metrics import mpjpe_mm, pa_mpjpe_mm
from deformlearn.core.registration.data import PIXELS_256_PER_UNIT, PersonTargets, collate
from deformlearn.core.registration.fitter import BodyParams
from deformlearn.core.registration.quality import judge_fit, trunk_pitch_deg
from deformlearn.core.registration.schedule import FitSchedule, register_schedule
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.rounds.metrics import fit_keypoints_camera

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTOS = {"pedestrian": "demo_im", "seated": "seated_im"}


def photo_person(template, stem: str) -> tuple[PersonTargets, PersonAnnotation]:
    """The largest person of a DensePose output as registration targets (dense points, no keypoints), and
    the annotation it came from."""
    folder = SHARED / "densepose"
    people = read_iuv_inference(folder / f"{stem}.jpg", folder / f"{stem}_IUV.png", folder / f"{stem}_INDS.png")
    p = max(people, key=lambda a: len(a.dense))
    index, _ = map_to_vertices(template, p.dense.part, p.dense.uv)
    return PersonTargets.from_pixels(stem, p.bbox, p.dense.xy, index, np.zeros((17, 3))), p


def detected_keypoints(annotations: list[PersonAnnotation]) -> tuple[list[np.ndarray] | None, str]:
    """(17, 3) detector keypoints (pixels, confidence) per photo person, or None when the detector is not
    installed; and a note saying which."""
    try:
        with PoseDetector() as detector:
            found, _ = detect_keypoints(annotations, detector)
            return found, f"BlazePose (mediapipe {detector.version})"
    except DetectorNotInstalled as e:
        return None, str(e)


def keypoint_px_against(body: BodyModel, params: dict, person: PersonTargets, detected: np.ndarray) -> float | None:
    """Mean distance (px of the 256 frame) of a fit's COCO keypoints from detected ones (confidence > 0.5);
    None when the detector is sure of none (it found nobody)."""
    sure = detected[:, 2] > 0.5
    if not sure.any():
        return None
    with torch.no_grad():
        b = BodyParams.from_dicts([params])
        rot = torch.as_tensor(np.asarray(params["rotation"]), dtype=torch.float32).reshape(1, 3, 3)
        xy, _ = weak_perspective_project(body(b.pose, b.scales, None).keypoints, rot, b.scale, b.translation)
    target = (detected[sure, :2] - person.centre) / person.half_side
    return float(np.linalg.norm(xy[0].numpy()[sure] - target, axis=1).mean() * PIXELS_256_PER_UNIT)


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


def photo_figures(body, people, schedule, detected: list[np.ndarray] | None) -> dict:
    out = {}
    for k, (person, f) in enumerate(zip(people, fit(body, people, schedule))):
        name = next(key for key, v in PHOTOS.items() if v == person.person_id)
        out[name] = {"pitch_deg": round(trunk_pitch_deg(body, f.params), 1), "dense_px": round(f.dense_error_px, 2),
                     "quality": judge_fit(f, person, body)[0],
                     "thigh_below_horizontal_deg": [round(a, 1) for a in thigh_angles_deg(body, f.params)]}
        if detected is not None:
            px = keypoint_px_against(body, f.params, person, detected[k])
            out[name]["keypoint_px_vs_detector"] = None if px is None else round(px, 2)
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
    parser.add_argument("--detector", action="store_true",
                        help="also score the photo fits' keypoints against the pose detector's (not fitted to)")
    parser.add_argument("--round", action="store_true", help="also: single fits, then rounds, of a project")
    parser.add_argument("--rounds", type=int, default=1, help="with --round: how many rounds (default 1)")
    parser.add_argument("--stiff-first-round", action="store_true", help="with --round: round 1 on the preset alone")
    parser.add_argument("--no-keep-better", action="store_true", help="with --round: every round fit becomes current")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    template = load_builtin_template() if args.template is None else load_template(args.template)
    body = BodyModel(template)
    base = {"num_threads": args.threads, "progress_every": 1000}
    photos, annotations = zip(*(photo_person(template, stem) for stem in PHOTOS.values()))
    detected, detector_note = detected_keypoints(list(annotations)) if args.detector else (None, "not asked")
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
        figures = photo_figures(body, list(photos), dense, detected)
        if args.renders:
            renders += render(template, body, figures, Path(args.renders), name)
        result[name] = {**{k: {q: v for q, v in f.items() if q != "_params"} for k, f in figures.items()},
                        "h36m": h36m_figures(body, h36m, truth, mask, keypoints)}
    print(json.dumps({"benchmark": "real_data", **result, "renders": renders, "detector": detector_note,
                      "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    if args.round:
        print(json.dumps({"benchmark": "real_data_round", **round_figures(args)}))


def round_figures(args) -> dict:
    """Single fits then one cpu-demo round on a project of the two photos (see the module docstring)."""
    import contextlib
    import io
    import shutil
    import tempfile

    from deformlearn.core.cli.parser import main as cli_main
    from deformlearn.core.project.store import Project
    from deformlearn.core.rounds.loop import run_round
    from deformlearn.core.rounds.settings import RoundSettings

    folder = Path(tempfile.mkdtemp(prefix="deformlearn-real-round-"))
    try:
        (folder / "iuv").mkdir()
        for stem in PHOTOS.values():
            for suffix in (".jpg", "_IUV.png", "_INDS.png"):
                shutil.copy(SHARED / "densepose" / f"{stem}{suffix}", folder / "iuv" / f"{stem}{suffix}")
        root = folder / "project"
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli_main(["import", str(root), "--iuv", str(folder / "iuv")]) == 0
            assert cli_main(["register", str(root), "--threads", str(args.threads)]) == 0
        settings = RoundSettings.cpu_demo(num_threads=args.threads, staged_first_round=not args.stiff_first_round,
                                          keep_better_fits=not args.no_keep_better)
        with Project.open(root) as project:
            who = {}
            for name, stem in PHOTOS.items():
                ids = [int(p) for p in project.person_ids() if project.person(int(p)).source_key.startswith(stem)]
                who[name] = max(ids, key=lambda p: len(project.person(p).dense))

            def state(fit) -> dict:
                return {"round": fit.round_index, "dense_px": round(fit.metrics["error"], 2),
                        "quality": fit.metrics["quality"], "flags": fit.metrics["quality_flags"]}

            out: dict = {name: {"single_fit": state(project.current_fit(p))} for name, p in who.items()}
            for _ in range(args.rounds):
                record = run_round(project, settings)
                k = record.index
                for name, p in who.items():
                    out[name] |= {f"round{k}_fit": state(project.latest_fit(p, k)),
                                  f"current_after_round{k}": state(project.current_fit(p))}
                out[f"round{k}"] = {name: round(record.metrics[name], 2) for name in (
                    "seconds_registration", "cpu_seconds_registration", "registration_kept_previous")}
            return {**out, "first_round": "stiff" if args.stiff_first_round else "staged",
                    "keep_better": not args.no_keep_better}
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
