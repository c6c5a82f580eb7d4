"""Geometry and losses of the keypoint-lifting cGAN (appendix section 2) on COCO-17 keypoints.

Frames. Input keypoints are image pixels (x right, y down) with a visibility flag. `normalise_keypoints`
maps them to the *normalised frame*: the root is moved to the origin and coordinates are divided by the
pose's scale. Root: the hip midpoint when both hips are visible, else the mean of the visible torso points
(shoulders, hips), else the mean of all visible points. Scale: the root-mean-square distance of the visible
keypoints from the root. 3D poses in the normalised frame are right-handed (x right, y down, z away from
the camera, as OpenCV's camera frame), so larger z is farther from the camera; depths are root-relative.
The vertical axis about which views rotate is the image's y axis.

Shapes: B batch, K = 17 keypoints, A view angles, E bones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from deformlearn.core.body.skeletons import COCO_FLIP_INDEX, COCO_SKELETON, NUM_KEYPOINTS
from deformlearn.core.shape_checks import check_shape

HIPS = (11, 12)
SHOULDERS = (5, 6)
TORSO = (5, 6, 11, 12)
#: Bones whose length ratios to the trunk are matched to the average skeleton: COCO's skeleton without the
#: ear-shoulder links, which stretch whenever the head turns.
RATIO_BONES: tuple[tuple[int, int], ...] = tuple(b for b in COCO_SKELETON if b not in ((3, 5), (4, 6)))


def _symmetric_bone_pairs() -> tuple[tuple[int, int], ...]:
    """Pairs (i, j) of indices into RATIO_BONES that are each other's left/right mirror."""
    index = {frozenset(b): e for e, b in enumerate(RATIO_BONES)}
    pairs = []
    for e, (a, b) in enumerate(RATIO_BONES):
        m = index.get(frozenset((COCO_FLIP_INDEX[a], COCO_FLIP_INDEX[b])))
        if m is not None and m > e:
            pairs.append((e, m))
    return tuple(pairs)


SYMMETRIC_BONE_PAIRS: tuple[tuple[int, int], ...] = _symmetric_bone_pairs()


def root_weights(vis: torch.Tensor) -> torch.Tensor:
    """vis: (B, K) float 0/1 -> (B, K) weights, rows summing to 1 (0 where nothing is visible): the root rule."""
    hips = torch.zeros_like(vis)
    hips[:, list(HIPS)] = vis[:, list(HIPS)]
    torso = torch.zeros_like(vis)
    torso[:, list(TORSO)] = vis[:, list(TORSO)]
    both_hips = (hips.sum(1, keepdim=True) == 2).to(vis)
    any_torso = (torso.sum(1, keepdim=True) > 0).to(vis)
    w = both_hips * hips + (1 - both_hips) * (any_torso * torso + (1 - any_torso) * vis)
    return w / w.sum(1, keepdim=True).clamp_min(1)


def normalise_points(points: torch.Tensor, vis: torch.Tensor, eps: float = 1e-6
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Root-centre and scale-normalise 2D points.

    points: (B, K, 2) any frame; vis: (B, K) float 0/1. Returns (normalised (B, K, 2) with invisible points
    set to 0, root (B, 2), scale (B,)); original = normalised * scale + root at visible points.
    """
    points = torch.where(vis[..., None] > 0, points, torch.zeros_like(points))  # invisible may hold NaN
    root = (root_weights(vis)[..., None] * points).sum(1)
    centred = (points - root[:, None]) * vis[..., None]
    count = vis.sum(1).clamp_min(1)
    scale = ((centred**2).sum((1, 2)) / count).sqrt().clamp_min(eps)
    return centred / scale[:, None, None], root, scale


def normalise_keypoints(keypoints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """keypoints: (B, 17, 3) pixels + visibility (> 0 = visible; COCO's 1 and 2 both count).

    Returns (xy (B, 17, 2) normalised frame, vis (B, 17) float 0/1, root (B, 2) px, scale (B,) px).
    """
    check_shape(keypoints, ("B", NUM_KEYPOINTS, 3), "keypoints (x, y, visibility)")
    vis = (keypoints[..., 2] > 0).to(keypoints.dtype)
    xy, root, scale = normalise_points(keypoints[..., :2], vis)
    return xy, vis, root, scale


def network_input(xy: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """(B, K, 2) normalised points + (B, K) visibility -> (B, 3K) MLP input (missing points imputed as 0)."""
    return torch.cat([(xy * vis[..., None]).flatten(1), vis], dim=1)


def root_relative_depth(z: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """z: (B, K) depths -> (B, K) minus the root's depth (same root rule as the 2D points)."""
    return z - (root_weights(vis) * z).sum(1, keepdim=True)


def rotate_about_vertical(points: torch.Tensor, angles_rad: torch.Tensor) -> torch.Tensor:
    """Rotate (B, K, 3) normalised-frame poses about the vertical (y) axis through the origin.

    angles_rad: (A,). Returns (B, A, K, 3); x' = x cos + z sin, z' = -x sin + z cos, y' = y.
    """
    c = torch.cos(angles_rad).to(points)[None, :, None]
    s = torch.sin(angles_rad).to(points)[None, :, None]
    x, y, z = points[:, None, :, 0], points[:, None, :, 1], points[:, None, :, 2]
    return torch.stack([x * c + z * s, y.expand_as(x * c), -x * s + z * c], dim=-1)


def project_views(points: torch.Tensor, vis: torch.Tensor, angles_deg: Sequence[float]) -> torch.Tensor:
    """Multi-view projection f(u, G(u); phi) of the cGAN.

    points: (B, K, 3) normalised frame; vis: (B, K). Each pose is rotated by every angle, projected
    orthographically (drop z) and re-normalised with its own visibility, giving the discriminator input
    (B * A, 3K) (ordered pose-major: rows b*A .. b*A + A-1 are pose b).
    """
    angles = torch.tensor([math.radians(a) for a in angles_deg], dtype=points.dtype, device=points.device)
    rotated = rotate_about_vertical(points, angles)  # (B, A, K, 3)
    A = angles.shape[0]
    vis_a = vis[:, None].expand(-1, A, -1).reshape(-1, vis.shape[1])
    xy, _, _ = normalise_points(rotated[..., :2].reshape(-1, vis.shape[1], 2), vis_a)
    return network_input(xy, vis_a)


def bone_lengths(points: torch.Tensor, bones: Sequence[tuple[int, int]] = RATIO_BONES) -> torch.Tensor:
    """points: (B, K, 3) -> (B, E) lengths of the bones."""
    a = [b[0] for b in bones]
    b = [b[1] for b in bones]
    return (points[:, a] - points[:, b]).norm(dim=-1).clamp_min(1e-8)


def bone_validity(vis: torch.Tensor, bones: Sequence[tuple[int, int]] = RATIO_BONES) -> torch.Tensor:
    """vis: (B, K) -> (B, E) 1 where both ends of a bone are visible."""
    return vis[:, [b[0] for b in bones]] * vis[:, [b[1] for b in bones]]


def trunk_length(points: torch.Tensor) -> torch.Tensor:
    """points: (B, K, 3) -> (B,) distance between the shoulder midpoint and the hip midpoint."""
    return (points[:, list(SHOULDERS)].mean(1) - points[:, list(HIPS)].mean(1)).norm(dim=-1).clamp_min(1e-8)


def ratio_loss(points: torch.Tensor, vis: torch.Tensor, average_skeleton: torch.Tensor) -> torch.Tensor:
    """L_ratio: sum over visible bones of (l_e / l_trunk - lbar_e / lbar_trunk)^2, mean over the batch.

    points: (B, K, 3); vis: (B, K); average_skeleton: (K, 3) any units. Poses without all four torso
    points visible have no trunk and contribute 0.
    """
    ratios = bone_lengths(points) / trunk_length(points)[:, None]
    avg = average_skeleton[None].to(points)
    target = bone_lengths(avg) / trunk_length(avg)[:, None]
    has_trunk = (vis[:, list(TORSO)].sum(1) == len(TORSO)).to(points)
    weight = bone_validity(vis) * has_trunk[:, None]
    return ((ratios - target) ** 2 * weight).sum(1).mean()


def symmetry_loss(points: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """L_sym: sum over left/right bone pairs of (l_i - l_j)^2 (both bones visible), mean over the batch."""
    lengths = bone_lengths(points)
    valid = bone_validity(vis)
    i = [p[0] for p in SYMMETRIC_BONE_PAIRS]
    j = [p[1] for p in SYMMETRIC_BONE_PAIRS]
    return ((lengths[:, i] - lengths[:, j]) ** 2 * valid[:, i] * valid[:, j]).sum(1).mean()


def facing_loss(points: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """L_facing (not in the paper): breaks the mirror ambiguity of the other losses.

    Reflecting every depth (z -> -z) leaves L_adv, L_ratio and L_sym unchanged (a reflected pose seen from
    phi projects like the true pose seen from -phi), but turns the body into its mirror image. A real body
    (right-handed, like the camera frame) has its nose in front of the torso, forward = (left shoulder -
    right shoulder) x (shoulder midpoint - hip midpoint), and its knees bend backwards, (knee - hip) x
    (ankle - knee) pointing to the body's left. Hinge penalties on the cosine of each violation, summed over
    the visible ones, mean over the batch. points: (B, K, 3) normalised frame; vis: (B, K).
    """
    def unit(v: torch.Tensor) -> torch.Tensor:
        return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    sh_mid, hip_mid = points[:, list(SHOULDERS)].mean(1), points[:, list(HIPS)].mean(1)
    left_sh = points[:, SHOULDERS[0]] - points[:, SHOULDERS[1]]
    forward = unit(torch.linalg.cross(left_sh, sh_mid - hip_mid))
    torso_ok = vis[:, list(TORSO)].prod(1)
    nose_cos = (unit(points[:, 0] - sh_mid) * forward).sum(-1)
    loss = torch.relu(-nose_cos) * torso_ok * vis[:, 0]
    left_axis = unit(points[:, HIPS[0]] - points[:, HIPS[1]])
    for hip, knee, ankle in ((11, 13, 15), (12, 14, 16)):
        bend = torch.linalg.cross(unit(points[:, knee] - points[:, hip]), unit(points[:, ankle] - points[:, knee]))
        ok = vis[:, hip] * vis[:, knee] * vis[:, ankle] * vis[:, HIPS[0]] * vis[:, HIPS[1]]
        loss = loss + torch.relu(-(bend * left_axis).sum(-1)) * ok
    return loss.mean()


def joint_loss(depth: torch.Tensor, target_depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_joint: mean squared depth error over masked joints. depth, target_depth, mask: (B, K) normalised frame.

    The x, y of the prediction are the input keypoints themselves, so only the depth carries a gradient.
    """
    return ((depth - target_depth) ** 2 * mask).sum() / mask.sum().clamp_min(1)


def adversarial_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits (N, 1) against all-real or all-fake labels.

    The generator minimises adversarial_loss(D(fake), real=True), the usual non-saturating form of
    log(1 - D(fake)) in the appendix's eq. (1).
    """
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


__all__ = [
    "RATIO_BONES", "SYMMETRIC_BONE_PAIRS", "root_weights", "normalise_points",
    "normalise_keypoints", "network_input", "root_relative_depth", "rotate_about_vertical", "project_views",
    "bone_lengths", "bone_validity", "trunk_length", "ratio_loss", "symmetry_loss", "facing_loss", "joint_loss",
    "adversarial_loss",
]
