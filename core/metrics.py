"""Evaluation metrics: MPJPE (paper protocol), PA-MPJPE, mean per-pixel error, PA mean per-vertex error.

All torch functions are batched, take points (B, N, D) and an optional validity mask (B, N) (True / 1 =
the point counts), and return one value per sample, (B,), in the units of the *reference* points (give
metres and multiply by 1000 for millimetres; the numpy wrappers `*_mm` do that). A sample without any
valid point gives NaN, so `nanmean` over the batch averages the rest.

MPJPE protocol (the paper's Human3.6M protocol 1, appendix section 5):
1. root alignment: both skeletons are translated so their root sits at the origin. The root is one joint
   index or the mean of several (COCO-17 has no pelvis, so the default for COCO is the hip midpoint,
   `COCO_ROOT = (11, 12)`; for H36M-17 give `root=0`, the pelvis);
2. bone-length rescale: the root-centred prediction is scaled so the sum of its bone lengths equals the
   sum of the same bones in the reference skeleton, which is the ground truth's own skeleton by default or
   a given average skeleton (J, 3) (the paper's choice). Only bones with both ends valid are summed, on
   both sides, so missing joints never bias the scale;
3. mean Euclidean distance over valid joints.
This makes a prediction in any units (pixels, normalised units) comparable with metric ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from deformlearn.core.body.skeletons import COCO_SKELETON
from deformlearn.core.shape_checks import check_shape

#: Root of COCO-17 skeletons: the midpoint of the left and right hips.
COCO_ROOT: tuple[int, ...] = (11, 12)

RootSpec = int | Sequence[int]


def _mask_or_ones(mask: torch.Tensor | None, points: torch.Tensor) -> torch.Tensor:
    """(B, N) float mask; all ones when `mask` is None."""
    if mask is None:
        return torch.ones(points.shape[:2], dtype=points.dtype, device=points.device)
    check_shape(mask, tuple(points.shape[:2]), "mask")
    return mask.to(points.dtype)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """values, mask: (B, N) -> (B,) mean over mask, NaN where the mask is empty."""
    count = mask.sum(1)
    total = (values * mask).sum(1)
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, float("nan")))


def root_align(points: torch.Tensor, root: RootSpec = COCO_ROOT) -> torch.Tensor:
    """points: (B, J, D) -> (B, J, D) translated so the root (one joint or mean of joints) is the origin."""
    check_shape(points, ("B", "J", "D"), "points")
    idx = [root] if isinstance(root, int) else list(root)
    return points - points[:, idx].mean(1, keepdim=True)


def bone_length_sum(
    points: torch.Tensor, bones: Sequence[tuple[int, int]], mask: torch.Tensor | None = None
) -> torch.Tensor:
    """points: (B, J, D), mask (B, J) -> (B,) sum of lengths of the bones whose both ends are valid."""
    check_shape(points, ("B", "J", "D"), "points")
    m = _mask_or_ones(mask, points)
    a = torch.tensor([b[0] for b in bones], device=points.device)
    b = torch.tensor([b[1] for b in bones], device=points.device)
    lengths = (points[:, a] - points[:, b]).norm(dim=-1)
    return (lengths * m[:, a] * m[:, b]).sum(1)


def rescale_to_reference(
    pred: torch.Tensor,
    reference: torch.Tensor,
    bones: Sequence[tuple[int, int]] = COCO_SKELETON,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scale root-centred pred (B, J, D) so its bone-length sum equals reference's (B, J, D) or (J, D)."""
    check_shape(pred, ("B", "J", "D"), "pred")
    ref = reference.expand_as(pred) if reference.ndim == 2 and reference.shape == pred.shape[1:] else reference
    check_shape(ref, tuple(pred.shape), "reference")
    s_pred = bone_length_sum(pred, bones, mask)
    s_ref = bone_length_sum(ref, bones, mask)
    return pred * (s_ref / s_pred.clamp_min(1e-12))[:, None, None]


def mpjpe(
    pred: torch.Tensor,
    gt: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    root: RootSpec = COCO_ROOT,
    bones: Sequence[tuple[int, int]] = COCO_SKELETON,
    reference_skeleton: torch.Tensor | None = None,
    rescale: bool = True,
) -> torch.Tensor:
    """Mean per-joint position error with the paper's protocol (module docstring).

    pred: (B, J, 3) any units and origin; gt: (B, J, 3) reference units (e.g. metres), same axis
    orientation as pred; mask: (B, J) valid joints; reference_skeleton: (J, 3) average skeleton whose
    bone-length sum the prediction is scaled to (None: gt's own). Returns (B,) in gt's units.
    """
    check_shape(gt, ("B", "J", 3), "gt", check_shape(pred, ("B", "J", 3), "pred"))
    m = _mask_or_ones(mask, pred)
    p = root_align(pred, root)
    g = root_align(gt, root)
    if rescale:
        ref = g if reference_skeleton is None else root_align(reference_skeleton[None].to(g), root)[0]
        p = rescale_to_reference(p, ref, bones, m)
    return _masked_mean((p - g).norm(dim=-1), m)


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Similarity transform (scale, rotation, translation) of pred onto gt, least squares over valid points.

    pred, gt: (B, N, 3); mask: (B, N). Returns pred aligned, (B, N, 3) (Umeyama, reflection excluded).
    """
    check_shape(gt, ("B", "N", 3), "gt", check_shape(pred, ("B", "N", 3), "pred"))
    w = _mask_or_ones(mask, pred)[..., None]
    n = w.sum(1, keepdim=True).clamp_min(1)
    mu_p = (pred * w).sum(1, keepdim=True) / n
    mu_g = (gt * w).sum(1, keepdim=True) / n
    p0, g0 = (pred - mu_p) * w, (gt - mu_g) * w
    cov = g0.transpose(1, 2) @ p0  # (B, 3, 3) = sum g p^T
    u, s, vh = torch.linalg.svd(cov)
    d = torch.sign(torch.linalg.det(u @ vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    e = torch.ones_like(s)
    e[:, 2] = d
    rot = u @ torch.diag_embed(e) @ vh
    var_p = (p0**2).sum((1, 2))
    scale = (s * e).sum(1) / var_p.clamp_min(1e-12)
    return scale[:, None, None] * (pred - mu_p) @ rot.transpose(1, 2) + mu_g


def pa_mpjpe(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MPJPE after Procrustes (similarity) alignment. pred, gt: (B, J, 3); mask (B, J). Returns (B,)."""
    aligned = procrustes_align(pred, gt, mask)
    return _masked_mean((aligned - gt).norm(dim=-1), _mask_or_ones(mask, pred))


def pa_mpve(pred_vertices: torch.Tensor, gt_vertices: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean per-vertex error after Procrustes. pred_vertices, gt_vertices: (B, V, 3). Returns (B,)."""
    return pa_mpjpe(pred_vertices, gt_vertices, mask)


def mean_per_pixel_error(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean 2D distance over valid points (padding/invisible masked out). pred, gt: (B, K, 2), pixels -> (B,)."""
    check_shape(gt, ("B", "N", 2), "gt", check_shape(pred, ("B", "N", 2), "pred"))
    return _masked_mean((pred - gt).norm(dim=-1), _mask_or_ones(mask, pred))


def _t(a: np.ndarray | torch.Tensor | None) -> torch.Tensor | None:
    if a is None:
        return None
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def mpjpe_mm(pred, gt_m, mask=None, *, root: RootSpec = COCO_ROOT, bones=COCO_SKELETON,
             reference_skeleton_m=None, rescale: bool = True) -> float:
    """numpy: mean over samples of `mpjpe` in millimetres; gt_m (B, J, 3) and reference in metres."""
    per = mpjpe(_t(pred), _t(gt_m), _t(mask), root=root, bones=bones,
                reference_skeleton=_t(reference_skeleton_m), rescale=rescale)
    return float(np.nanmean(per.numpy()) * 1000.0)


def pa_mpjpe_mm(pred, gt_m, mask=None) -> float:
    """numpy: mean over samples of `pa_mpjpe` in millimetres; gt_m (B, J, 3) in metres."""
    return float(np.nanmean(pa_mpjpe(_t(pred), _t(gt_m), _t(mask)).numpy()) * 1000.0)


def pa_mpve_mm(pred_vertices, gt_vertices_m, mask=None) -> float:
    """numpy: mean over samples of `pa_mpve` in millimetres; gt (B, V, 3) in metres."""
    return float(np.nanmean(pa_mpve(_t(pred_vertices), _t(gt_vertices_m), _t(mask)).numpy()) * 1000.0)


def mean_per_pixel_error_px(pred, gt, mask=None) -> float:
    """numpy: mean over samples of `mean_per_pixel_error`, pixels; pred, gt (B, K, 2)."""
    return float(np.nanmean(mean_per_pixel_error(_t(pred), _t(gt), _t(mask)).numpy()))


__all__ = [
    "COCO_ROOT", "root_align", "bone_length_sum", "rescale_to_reference", "mpjpe", "procrustes_align",
    "pa_mpjpe", "pa_mpve", "mean_per_pixel_error", "mpjpe_mm", "pa_mpjpe_mm", "pa_mpve_mm",
    "mean_per_pixel_error_px",
]
