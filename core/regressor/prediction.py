"""Predicting people with a trained regressor, optionally refined by registration (the paper's "before and
after refinement"), with errors against the annotations (and ground truth when the project has it).

The refinement (`refine_predictions`) registers each person three times and keeps the fit that explains the
annotations best (`data_losses`: dense points and 2D keypoints, the terms the three share): from the
regressor's prediction with the relaxed stage of a single fit (`FitSchedule.refit`); from the T-pose with the
whole single fit of `deformlearn register` (`FitSchedule.single_fit`: stiff, then that relaxed stage); and
from the T-pose likewise with the prediction's keypoint depths as L_KP's depth targets, the part the cGAN's
depths play in round 1 (keypoints fix x and y; the depths pick among the poses that project alike). Measured
on benchmarks/learning.py's people with the round-2 point-set regressor of 2,000 training people (150 people
each; bone-rescaled MPJPE / PA-MPJPE, mm): held out of the training distribution, regressor 106/82, refined
from it alone 97/68, from the T-pose alone 70/50, from the T-pose with the predicted depths 69/48; the first
two kept by their total loss (the earlier rule) 61/40, all three by `data_losses` 59/36.5. On the other
distribution (real poses): 198/120; the first two by total loss 120/78, all three 112/71. People without
keypoints (an IUV image alone) get no depth targets: their third fit is the second, not run again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
from deformlearn.core.registration.fitter import BodyParams, PersonFit
from deformlearn.core.registration.objective import Objective
from deformlearn.core.registration.pipeline import fit_chunk
from deformlearn.core.registration.schedule import FitSchedule
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.regressor.data import samples_from_project
from deformlearn.core.regressor.training import load_regressor, predict
from deformlearn.core.rounds.metrics import fit_keypoints_camera


@dataclass
class Prediction:
    """Per person (P of them): params before and (when refined) after refinement, as fit-style dicts
    (pose (23, 3), scales (24,), rotation (3, 3), scale (), translation (2,), normalised frame); metrics:
    "<before|after>_<dense_px|keypoint_px|mpjpe_mm|pa_mpjpe_mm>" means over the people (keypoint_px only when
    some person has keypoints, the MPJPEs only with ground truth), and after refinement
    "refined_from_prediction" / "refined_with_predicted_depths": the fraction of people whose kept fit started
    from the regressor's prediction / fitted the prediction's keypoint depths (`refine_predictions`)."""

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


#: The starts of `refine_predictions`, in the order of the index it returns per person.
REFINE_STARTS = ("prediction", "T-pose", "T-pose with the predicted depths")


def refine_predictions(template, people: list[PersonTargets], predicted: list[dict[str, np.ndarray]],
                       schedule: FitSchedule | None = None, *, device: str = "cpu", chunk_size: int = 256
                       ) -> tuple[list[dict[str, np.ndarray]], np.ndarray]:
    """Register `people` from their predictions `predicted` (fit-style dicts, people's order) the three ways
    of `refine_candidates` and keep each person's fit that explains the annotations best (module docstring),
    `chunk_size` people at a time as `fit_people` fits. Fits are ranked by `data_losses` (the terms all three
    share: dense points and 2D keypoints; for a keypoint-only person the 2D keypoints alone, which cannot
    tell poses apart that differ in depth), failed ones last. Returns the kept fits' params and (P,) int: the
    index into REFINE_STARTS of each kept fit's start."""
    schedule = (schedule or FitSchedule.single_fit()).with_(device=device)
    final = schedule.stages[-1]
    body = BodyModel(template)
    params, kept = [], []
    for start in range(0, len(people), chunk_size):
        rows = people[start:start + chunk_size]
        fits = refine_candidates(template, rows, predicted[start:start + chunk_size], schedule, device=device)
        losses = [data_losses(body, rows, [f.params for f in run], final) for run in fits]
        for i in range(len(rows)):
            best = min(range(len(fits)), key=lambda k: (fits[k][i].failed, losses[k][i]))
            kept.append(best)
            params.append(fits[best][i].params)
    return params, np.array(kept, dtype=np.int64)


def refine_candidates(template, people: list[PersonTargets], predicted: list[dict[str, np.ndarray]],
                      schedule: FitSchedule, *, device: str = "cpu") -> list[list[PersonFit]]:
    """Each person's three fits, in REFINE_STARTS order: from the prediction with `FitSchedule.refit(schedule)`;
    from the T-pose with `schedule`; from the T-pose with the prediction's keypoint depths as L_KP's depth
    targets (the part the cGAN's depths play in round 1). A person without visible keypoints has no depth
    to fit: the third fit is the second (the same object), not run again."""
    depths = fit_keypoints_camera(BodyModel(template), predicted, image_plane=True)[..., 2]
    # fit_chunk moves the model it is given to the device: give each run its own
    guess = fit_chunk(BodyModel(template), people, FitSchedule.refit(schedule),
                      [BodyParams.from_dicts(predicted, device=device)])
    fresh = [f for f, _ in fit_chunk(BodyModel(template), people, schedule, [None])]
    hinted = list(fresh)
    seen = [i for i, p in enumerate(people) if p.keypoint_visible.any()]
    if seen:
        rows = [replace(people[i], depths=depths[i].astype(np.float32)) for i in seen]
        for i, (fit, _) in zip(seen, fit_chunk(BodyModel(template), rows, schedule, [None])):
            hinted[i] = fit
    return [[f for f, _ in guess], fresh, hinted]


@torch.no_grad()
def data_losses(body: BodyModel, people: list[PersonTargets], params: list[dict[str, np.ndarray]],
                settings: RegistrationSettings) -> np.ndarray:
    """(P,) w_dense L_dense + w_KP L_KP (2D keypoints only, no depth targets) of fits `params` of `people`,
    with `settings`' weights: what a fit explains of the annotations, comparable between fits that had
    different depth targets or priors."""
    batch = collate(people, use_depths=False)
    terms, _, _, _ = Objective(body, batch, settings, 1)(BodyParams.from_dicts(params))
    return (settings.w_dense * terms["dense"] + settings.w_KP * terms["KP"]).numpy()


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
        after, kept = refine_predictions(template, people, before, refine, device=device)
        with torch.no_grad():
            metrics.update(_errors(body, after, batch, gt, "after"))
        metrics["refined_from_prediction"] = float((kept == 0).mean())
        metrics["refined_with_predicted_depths"] = float((kept == 2).mean())
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
