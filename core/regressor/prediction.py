"""Predicting people with a trained regressor, optionally refined by registration (the paper's "before and
after refinement"), with errors against the annotations (and ground truth when the project has it).

The refinement (`refine_predictions`) registers each person twice and keeps the lower-loss fit: from the
regressor's prediction with the relaxed stage of a single fit (`FitSchedule.refit`), and from the T-pose
with the whole single fit of `deformlearn register` (`FitSchedule.single_fit`: stiff, then that relaxed
stage). Measured on benchmarks/learning.py's people (round-3 point-set regressor; bone-rescaled MPJPE /
PA-MPJPE, mm): held out of the training distribution, regressor 143/104, refined from it alone 106/79 (it
starts the fit in the wrong basin as often as not), from the T-pose alone 77/56, both kept by loss 72/48;
on the other distribution 256/123, 143/92, 132/96, 117/76. So the regressor's start helps beside the
T-pose's, not instead of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import gram_schmidt_rotation
from deformlearn.core.densepose.correspondence import template_key
from deformlearn.core.metrics import mpjpe_mm, pa_mpjpe_mm
from deformlearn.core.project.importing import load_project_template
from deformlearn.core.project.store import Project
from deformlearn.core.registration.data import PIXELS_256_PER_UNIT, PersonTargets, collate, persons_from_project
from deformlearn.core.registration.fitter import BodyParams
from deformlearn.core.registration.pipeline import fit_chunk, fit_rank
from deformlearn.core.registration.schedule import FitSchedule
from deformlearn.core.regressor.data import samples_from_project
from deformlearn.core.regressor.training import load_regressor, predict
from deformlearn.core.rounds.metrics import fit_keypoints_camera


@dataclass
class Prediction:
    """Per person (P of them): params before and (when refined) after refinement, as fit-style dicts
    (pose (23, 3), scales (24,), rotation (3, 3), scale (), translation (2,), normalised frame); metrics:
    "<before|after>_<dense_px|keypoint_px|mpjpe_mm|pa_mpjpe_mm>" means over the people (keypoint_px only when
    some person has keypoints, the MPJPEs only with ground truth), and after refinement
    "refined_from_prediction": the fraction of people whose kept fit started from the regressor's prediction."""

    person_ids: np.ndarray
    before: list[dict[str, np.ndarray]]
    after: list[dict[str, np.ndarray]] | None
    metrics: dict[str, float]


def latest_regressor_path(project: Project) -> Path:
    """The newest finished round's regressor file."""
    for r in reversed(project.rounds()):
        if "regressor" in r.models and (project.root / r.models["regressor"]).is_file():
            return project.root / r.models["regressor"]
    raise FileNotFoundError(f"{project.root}: no trained regressor yet (run `deformlearn round` first)")


def _errors(body: BodyModel, params: list[dict], batch, gt: list | None, prefix: str) -> dict[str, float]:
    kp_cam = fit_keypoints_camera(body, params)
    img = torch.from_numpy(fit_keypoints_camera(body, params, image_plane=True))
    vis = batch.keypoint_visible.float()
    kp_px = ((img[..., :2] - batch.keypoints).norm(dim=-1) * vis).sum() / vis.sum().clamp_min(1)
    b = BodyParams.from_dicts(params)
    verts = body(b.pose, b.scales, batch.vertex_index).vertices
    xy, _ = weak_perspective_project(verts, gram_schmidt_rotation(b.rotation), b.scale, b.translation)
    m = batch.point_mask.float()
    dense_px = ((xy - batch.points).norm(dim=-1) * m).sum() / m.sum().clamp_min(1)
    out = {f"{prefix}_dense_px": float(dense_px) * PIXELS_256_PER_UNIT}
    if bool(vis.any()):  # people without keypoints (IUV output alone) have no keypoint error, not 0 px
        out[f"{prefix}_keypoint_px"] = float(kp_px) * PIXELS_256_PER_UNIT
    if gt is not None:
        gt_cam = fit_keypoints_camera(body, gt)
        out[f"{prefix}_mpjpe_mm"] = mpjpe_mm(kp_cam, gt_cam)
        out[f"{prefix}_pa_mpjpe_mm"] = pa_mpjpe_mm(kp_cam, gt_cam)
    return out


@torch.no_grad()
def _predict_params(model, samples) -> list[dict[str, np.ndarray]]:
    out = predict(model, samples)
    params = BodyParams(out.pose, out.scales, out.rotation.reshape(-1, 9), out.cam_scale, out.translation)
    return params.to_dicts()


def refine_predictions(template, people: list[PersonTargets], predicted: list[dict[str, np.ndarray]],
                       schedule: FitSchedule | None = None, *, device: str = "cpu", chunk_size: int = 256
                       ) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Register `people` from their predictions `predicted` (fit-style dicts, people's order) with
    `FitSchedule.refit(schedule)` and from the T-pose with `schedule` (default `FitSchedule.single_fit()`),
    `chunk_size` people at a time as `fit_people` fits, keeping each person's lower-loss fit (module docstring;
    both runs end with the relaxed weights and the same terms, also for people without dense points, whom the
    T-pose run fits on the keypoint schedule, so their losses compare). Returns the kept fits' params and (P,)
    bool: the kept fit started from the prediction."""
    schedule = (schedule or FitSchedule.single_fit()).with_(device=device)
    params, keep = [], []
    for start in range(0, len(people), chunk_size):
        rows = people[start:start + chunk_size]
        init = BodyParams.from_dicts(predicted[start:start + chunk_size], device=device)
        # fit_chunk moves the model it is given to the device: give it its own
        refined = fit_chunk(BodyModel(template), rows, FitSchedule.refit(schedule), [init])
        fresh = fit_chunk(BodyModel(template), rows, schedule, [None])
        for (a, _), (b, _) in zip(refined, fresh):
            keep.append(fit_rank(a) <= fit_rank(b))
            params.append(a.params if keep[-1] else b.params)
    return params, np.array(keep, dtype=bool)


def predict_people(project: Project, person_ids: np.ndarray, *, regressor: str | Path | None = None,
                   refine: FitSchedule | None = None, device: str = "cpu") -> Prediction:
    """Regress people of a project (they need dense points for the errors and refinement), then optionally
    refine by registration (`refine_predictions` with the schedule `refine`, e.g. FitSchedule.single_fit())."""
    person_ids = np.asarray(person_ids, dtype=np.int64)
    if len(person_ids) == 0:
        raise ValueError("predict_people: no people given")
    template = load_project_template(project)
    key = template_key(template)
    body = BodyModel(template)
    model = load_regressor(regressor or latest_regressor_path(project), device)
    samples = samples_from_project(project, template, person_ids, model.config.crop_size, model.config.input_mode,
                                   template_key=key)
    before = _predict_params(model, samples)
    people = persons_from_project(project, [int(p) for p in person_ids], key)
    batch = collate(people)
    gts = [project.ground_truth(int(p)) for p in person_ids]
    gt = gts if all(g is not None for g in gts) else None
    with torch.no_grad():
        metrics = _errors(body, before, batch, gt, "before")
    after = None
    if refine is not None:
        after, from_prediction = refine_predictions(template, people, before, refine, device=device)
        with torch.no_grad():
            metrics.update(_errors(body, after, batch, gt, "after"))
        metrics["refined_from_prediction"] = float(from_prediction.mean())
    return Prediction(person_ids, before, after, metrics)


def people_of_images(project: Project, image_files: list[str]) -> np.ndarray:
    """(P,) ids of the people in these images (matched by path or file name); all people when empty."""
    ids = project.person_ids()
    if not image_files:
        return ids
    wanted = {Path(f).name for f in image_files} | {str(Path(f).absolute()) for f in image_files}
    keep = [int(p) for p in ids if (f := project.person(int(p)).image_file) in wanted or Path(f).name in wanted]
    if not keep:
        raise ValueError(f"{project.root}: no people in the images {image_files}")
    return np.array(keep, dtype=np.int64)


def predict_new_people(people: list, work_dir: str | Path, *, regressor: str | Path, template: str = "builtin",
                       refine: FitSchedule | None = None, device: str = "cpu") -> tuple[Project, Prediction]:
    """Predict people read from new data (`core.densepose.readers.read_people`: an IUV folder, a COCO
    DensePose or keypoint file, DensePose results) without a project made by hand: they are imported into
    a new prediction project at `work_dir` (on `template`: "builtin" or a template .npz, the one the
    regressor was trained with), regressed (and refined), and each prediction is stored as that person's fit
    (round 0), so that `core.export.export_fits` writes the same meshes and parameter files as for any fit.
    People without dense points are skipped (the regressor and the dense error need them). Returns the open
    project (the caller closes it) and the prediction."""
    from deformlearn.core.project.importing import import_people
    from deformlearn.core.project.records import FitRecord

    project = Project.create(work_dir, template=template)
    try:
        import_people(project, people, load_project_template(project))
        ids = np.array([int(p) for p in project.person_ids() if (d := project.person(int(p)).dense) is not None
                        and len(d)], dtype=np.int64)
        if len(ids) == 0:
            raise ValueError(f"{work_dir}: none of the {len(people)} people read has dense points to predict from")
        result = predict_people(project, ids, regressor=regressor, refine=refine, device=device)
        params = result.after if result.after is not None else result.before
        stage = "refined" if result.after is not None else "regressed"
        project.save_fits([FitRecord(int(pid), 0, p, {}, "converged", settings={"prediction": stage,
                                                                                "regressor": str(regressor)})
                           for pid, p in zip(ids, params)])
    except BaseException:
        project.close()
        raise
    return project, result
