"""Per-round metrics of the deform-and-learn loop (the paper's Figure 2), kept in the project's rounds table.

With ground truth (synthetic projects): MPJPE (mm, the paper's protocol: root-aligned at the hip midpoint,
predicted skeleton rescaled to the ground truth's bone-length sum; `metrics.mpjpe`) and PA-MPJPE on COCO-17
keypoints in the camera frame (x right, y down, z away from the camera; orientation errors count):
- registration_mpjpe_mm: the round's fits of the training people; registration_median_mpjpe_mm and
  registration_over_200mm (how many of them are off by more than 200 mm: wrong limbs or orientation) tell
  a few failed fits from a general shift;
- cgan_mpjpe_mm: lifted keypoints (annotated 2D + cGAN depth) of the held-out people (absent when the round
  lifted nobody: --lifter none, or a later round that skipped its cGAN);
- regressor_mpjpe_mm: the regressor's predictions for the held-out people.
Always (residuals, pixels of a 256 x 256 frame over the person's square box):
- registration_dense_px: mean dense error of the round's converged fits with dense points;
- regressor_dense_px / regressor_keypoint_px: the regressor's prediction against the annotations of the
  held-out people (all people when there is no ground truth).
The registration stage itself writes registration_kept_previous: the people whose current fit after it is
not their round fit (a better fit kept in round 1, or a reviewed one).
"""

from __future__ import annotations

import numpy as np
import torch

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.template import Template
from deformlearn.core.metrics import mpjpe, mpjpe_mm, pa_mpjpe_mm
from deformlearn.core.project.records import dense_error
from deformlearn.core.project.store import Project
from deformlearn.core.registration.data import PIXELS_256_PER_UNIT, collate, persons_from_project
from deformlearn.core.regressor.data import fit_tensors, samples_from_project
from deformlearn.core.regressor.training import load_regressor, predict


def holdout_mask(person_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """(P,) bool: which people are held out. Each person's draw depends only on (seed, id), so the split
    of a person never changes when people are added."""
    if fraction <= 0:
        return np.zeros(len(person_ids), dtype=bool)
    return np.array([np.random.default_rng([seed, int(p)]).random() < fraction for p in person_ids], dtype=bool)


@torch.no_grad()
def fit_keypoints_camera(body: BodyModel, params: list[dict[str, np.ndarray]], *, image_plane: bool = False
                         ) -> np.ndarray:
    """(P, 17, 3) COCO keypoints of fits (or ground truth) given as parameter dicts.

    image_plane=False: camera frame R X, metres (x right, y down, z away from the camera), root-relative.
    image_plane=True: the weak-perspective image (x, y in the person's normalised frame) and depth s (R X)_z.
    """
    device = body.rest_vertices.device
    t = {k: v.to(device) for k, v in fit_tensors(params).items()}
    kp = body(t["pose"], t["scales"]).keypoints
    if image_plane:
        xy, depth = weak_perspective_project(kp, t["rotation"], t["cam_scale"], t["translation"])
        return torch.cat([xy, depth[..., None]], -1).cpu().numpy()
    return (kp @ t["rotation"].transpose(1, 2)).cpu().numpy()


def _prediction_keypoints(body: BodyModel, out) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Camera-frame keypoints (P, 17, 3), image keypoints (P, 17, 2) of regressor outputs."""
    kp = body(out.pose, out.scales).keypoints
    xy, _ = weak_perspective_project(kp, out.rotation, out.cam_scale, out.translation)
    return (kp @ out.rotation.transpose(1, 2)).numpy(), xy.numpy()


@torch.no_grad()
def evaluate_round(project: Project, template: Template, round_index: int, person_ids: np.ndarray,
                   held_out: np.ndarray, key: str, has_gt: bool, device: str = "cpu") -> dict[str, float]:
    """The round's metrics (module docstring) as name -> float; a metric that cannot be measured is absent.

    person_ids: (P,) the people with dense points; held_out: (P,) bool, the evaluation split.
    """
    body = BodyModel(template)
    metrics: dict[str, float] = {}
    fits = {f.person_id: f for f in project.fits(round_index)}
    converged = [f for f in fits.values() if f.status == "converged"]
    dense = [e for e in (dense_error(f.metrics) for f in converged) if e is not None]
    if dense:  # a fit to keypoints alone measures no dense error (its 0 px would pull the mean down)
        metrics["registration_dense_px"] = float(np.mean(dense))
    metrics["registration_failed"] = float(sum(f.status == "failed" for f in fits.values()))
    gt_of = (lambda pid: project.ground_truth(int(pid))) if has_gt else None

    usable = {p for p, f in fits.items() if f.status == "converged"}
    train = [int(p) for p, h in zip(person_ids, held_out) if not h and int(p) in usable]
    if gt_of is not None and train:
        gt = fit_keypoints_camera(body, [gt_of(p) for p in train])
        pred = fit_keypoints_camera(body, [fits[p].params for p in train])
        metrics["registration_mpjpe_mm"] = mpjpe_mm(pred, gt)
        per_person = mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)).numpy() * 1000.0
        metrics["registration_median_mpjpe_mm"] = float(np.median(per_person))
        metrics["registration_over_200mm"] = float((per_person > 200.0).sum())
        metrics["registration_pa_mpjpe_mm"] = pa_mpjpe_mm(pred, gt)

    test_mask = held_out if held_out.any() else np.ones(len(person_ids), dtype=bool)
    test = person_ids[test_mask]
    rnd = next(r for r in project.rounds() if r.index == round_index)
    if gt_of is not None and held_out.any():
        gt = fit_keypoints_camera(body, [gt_of(p) for p in test])
        lifted_ids = project.read_array(f"rounds/round_{round_index:03d}/lifted_ids")
        depths = project.read_array(f"rounds/round_{round_index:03d}/lifted_depths")
        depth_of = {int(p): d for p, d in zip(lifted_ids, depths)}
    else:
        depth_of = {}
    if depth_of and all(int(p) in depth_of for p in test):  # none without a lifter (--lifter none)
        batch = collate(persons_from_project(project, [int(p) for p in test], key))
        lifted = np.concatenate([batch.keypoints.numpy(), np.stack([depth_of[int(p)] for p in test])[..., None]], -1)
        vis = batch.keypoint_visible.numpy()
        metrics["cgan_mpjpe_mm"] = mpjpe_mm(lifted, gt, vis)
        metrics["cgan_pa_mpjpe_mm"] = pa_mpjpe_mm(lifted, gt, vis)

    if "regressor" in rnd.models:
        model = load_regressor(project.root / rnd.models["regressor"], device)
        samples = samples_from_project(project, template, test, model.config.crop_size, model.config.crop_mode,
                                       template_key=key)
        out = predict(model, samples)
        kp3d, kp2d = _prediction_keypoints(body, out)
        vis = samples.keypoint_visible.numpy()
        kp_err = np.linalg.norm(kp2d - samples.keypoints.numpy(), axis=-1)
        metrics["regressor_keypoint_px"] = float((kp_err * vis).sum() / max(vis.sum(), 1) * PIXELS_256_PER_UNIT)
        verts = body(out.pose, out.scales, samples.vertex_index).vertices
        xy, _ = weak_perspective_project(verts, out.rotation, out.cam_scale, out.translation)
        mask = samples.point_mask.numpy()
        err = np.linalg.norm(xy.numpy() - samples.points.numpy(), axis=-1)
        metrics["regressor_dense_px"] = float((err * mask).sum() / max(mask.sum(), 1) * PIXELS_256_PER_UNIT)
        if gt_of is not None and held_out.any():
            metrics["regressor_mpjpe_mm"] = mpjpe_mm(kp3d, gt)
            metrics["regressor_pa_mpjpe_mm"] = pa_mpjpe_mm(kp3d, gt)
    metrics["num_training_people"] = float(len(train))
    metrics["num_test_people"] = float(len(test))
    return metrics
