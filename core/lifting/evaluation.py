"""Accuracy of the lifter against 3D ground truth, and the Human3.6M joints it can be compared on.

The lifted pose of a person is (x_px, y_px, depth_px) (see `lifting.lift`); the ground truth must be in a
camera frame with the same axis orientation (x right, y down, z away from the camera; Human3.6M's camera
frame is), any units (metres give millimetre results). Scores follow `metrics.mpjpe` (root = hip midpoint,
prediction rescaled to the reference skeleton's bone-length sum) and `metrics.pa_mpjpe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from deformlearn.core import metrics
from deformlearn.core.body.skeletons import NUM_KEYPOINTS
from deformlearn.core.lifting.cgan import DepthGenerator, LiftingResult, lift
from deformlearn.core.lifting.losses import RATIO_BONES
from deformlearn.core.shape_checks import check_shape

#: COCO-17 keypoint index -> Human3.6M-17 joint index (mmpose's H36M order: 0 pelvis, 1-3 right hip/knee/
#: ankle, 4-6 left hip/knee/ankle, 7 spine, 8 thorax, 9 neck/nose, 10 head top, 11-13 left shoulder/elbow/
#: wrist, 14-16 right shoulder/elbow/wrist). COCO's nose is taken from H36M's "neck/nose" joint (a point
#: between the chin and the nose), so it is used as an input but left out of scoring; H36M has no eyes or ears
#: (they are given as invisible).
H36M_FROM_COCO: dict[int, int] = {
    0: 9, 5: 11, 6: 14, 7: 12, 8: 15, 9: 13, 10: 16, 11: 4, 12: 1, 13: 5, 14: 2, 15: 6, 16: 3,
}
#: COCO keypoints scored against Human3.6M: shoulders, elbows, wrists, hips, knees, ankles.
H36M_SCORED_COCO: tuple[int, ...] = (5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)


@dataclass(frozen=True)
class LiftingEvaluation:
    """mpjpe_mm / pa_mpjpe_mm: means over people; per_person_mpjpe_mm: (P,). Units: gt units x 1000."""

    mpjpe_mm: float
    pa_mpjpe_mm: float
    per_person_mpjpe_mm: np.ndarray
    num_people: int


@dataclass(frozen=True)
class H36MFrames:
    """keypoints_2d: (P, 17, 3) COCO order, image pixels + visibility; joints3d_cam: (P, 17, 3) metres,
    camera frame (x right, y down, z forward), zeros where unmapped; score_mask: (P, 17) joints to score."""

    keypoints_2d: np.ndarray
    joints3d_cam: np.ndarray
    score_mask: np.ndarray
    image_names: tuple[str, ...]


def load_h36m_body3d(path: str | Path) -> H36MFrames:
    """Read an mmpose-style `test_h36m_body3d.npz` (`part` (P, 17, 3) px + vis, `S` (P, 17, 4) metres + vis,
    `imgname`) and map its Human3.6M joints to COCO-17 (`H36M_FROM_COCO`)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            part, S, names = data["part"], data["S"], data["imgname"]
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not an H36M body3d npz with 'part', 'S', 'imgname' ({exc})") from exc
    if part.ndim != 3 or part.shape[1:] != (17, 3) or S.shape[:2] != part.shape[:2] or S.shape[2] < 3:
        raise ValueError(f"{path}: 'part' {part.shape} / 'S' {S.shape} are not (P, 17, 3) / (P, 17, 4)")
    P = part.shape[0]
    kp = np.zeros((P, NUM_KEYPOINTS, 3))
    j3d = np.zeros((P, NUM_KEYPOINTS, 3))
    for c, h in H36M_FROM_COCO.items():
        kp[:, c] = part[:, h]
        j3d[:, c] = S[:, h, :3]
    score = np.zeros((P, NUM_KEYPOINTS), dtype=bool)
    score[:, list(H36M_SCORED_COCO)] = True
    score &= kp[..., 2] > 0
    return H36MFrames(kp, j3d, score, tuple(str(n) for n in names))


def lifted_pose(model: DepthGenerator | LiftingResult, keypoints_2d: np.ndarray) -> np.ndarray:
    """(P, 17, 3) keypoints -> (P, 17, 3) lifted pose (x_px, y_px, depth_px)."""
    z = lift(model, keypoints_2d)
    return np.concatenate([np.asarray(keypoints_2d)[..., :2], z[..., None]], axis=-1)


def evaluate_lifting(
    model: DepthGenerator | LiftingResult,
    keypoints_2d: np.ndarray,
    joints3d_gt: np.ndarray,
    score_mask: np.ndarray | None = None,
    *,
    reference_skeleton: np.ndarray | None = None,
) -> LiftingEvaluation:
    """MPJPE and PA-MPJPE of lifted keypoints against ground truth.

    keypoints_2d: (P, 17, 3) pixels + visibility; joints3d_gt: (P, 17, 3) camera frame, metres;
    score_mask: (P, 17) joints to score (default: the visible ones); reference_skeleton: (17, 3) metres,
    the average skeleton whose bone-length sum the prediction is scaled to (default: each gt's own).
    """
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    gt = np.asarray(joints3d_gt, dtype=np.float64)
    check_shape(gt, kp.shape, "joints3d_gt")
    mask = kp[..., 2] > 0 if score_mask is None else np.asarray(score_mask, dtype=bool) & (kp[..., 2] > 0)
    pred = lifted_pose(model, kp)
    ref = None if reference_skeleton is None else torch.as_tensor(np.asarray(reference_skeleton, dtype=np.float64))
    per = metrics.mpjpe(torch.as_tensor(pred), torch.as_tensor(gt), torch.as_tensor(mask), bones=RATIO_BONES,
                        reference_skeleton=ref).numpy() * 1000.0
    return LiftingEvaluation(
        mpjpe_mm=float(np.nanmean(per)),
        pa_mpjpe_mm=metrics.pa_mpjpe_mm(pred, gt, mask),
        per_person_mpjpe_mm=per,
        num_people=int(kp.shape[0]),
    )


def depth_sign_agreement(depths: np.ndarray, depths_gt: np.ndarray, mask: np.ndarray, min_gap: float = 0.1) -> float:
    """Fraction of joint pairs whose depth order (which one is nearer the camera) the lifter gets right.

    depths: (P, K) lifted depths, any units; depths_gt: (P, K) true camera-frame depths, metres (same sign
    convention, larger = farther); mask: (P, K) joints to use. Only pairs at least `min_gap` metres apart in
    true depth count (closer ones have no clear order). 0.5 is chance; NaN when no pair counts."""
    z, zg = np.asarray(depths, np.float64), np.asarray(depths_gt, np.float64)
    check_shape(zg, z.shape, "depths_gt")
    m = np.asarray(mask, bool)
    check_shape(m, z.shape, "mask")
    dz, dzg = z[:, :, None] - z[:, None, :], zg[:, :, None] - zg[:, None, :]
    pairs = m[:, :, None] & m[:, None, :] & (dzg > min_gap)
    return float(np.mean(dz[pairs] > 0)) if pairs.any() else float("nan")


__all__ = ["H36M_FROM_COCO", "H36M_SCORED_COCO", "LiftingEvaluation", "H36MFrames", "load_h36m_body3d",
           "lifted_pose", "evaluate_lifting", "depth_sign_agreement"]
