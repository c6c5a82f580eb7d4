"""Training augmentation for the regressor: the same random change applied to a person's inputs and targets.

Per person, in this order, all in the normalised frame (x right, y down):
1. horizontal flip (probability `augment_flip`): image x -> -x. The flipped picture shows the mirrored body,
   so its labels change with it: each annotated point's template vertex becomes its mirror vertex (so its
   DensePose part goes through the part flip table and its U, V become the mirror vertex's), keypoints swap
   by COCO's flip index, segment scales and joint rotations swap by SMPL's left/right joints with axis-angle
   (x, y, z) -> (x, -y, -z), the camera rotation R -> M R M (M = diag(-1, 1, 1): the image's mirror on the
   left, the body frame's on the right) and t_x -> -t_x; depths stay.
2. similarity p' = k Rot(phi) p + c (in-plane rotation `augment_rotation`, scale 1 +- `augment_zoom`,
   shift `augment_shift`): R -> Rz(phi) R, s -> k s, t -> k Rot(phi) t + c, depths -> k depths.
3. what the model sees but the losses do not: a random share of the points dropped (up to
   `augment_dropout`), a partial view (probability `augment_partial`: points, keypoints and crop pixels
   beyond a random line removed), and Gaussian noise on U, V (`augment_uv_noise`). The losses keep every
   annotated point: the network learns to predict the whole body from part of it.
ConvNet crops are resampled by the same map (bilinear) and, when flipped, their IUV channels relabelled.

The flip is exact when the template is left/right symmetric (the built-in one and SMPL are, up to
millimetres); `mirror_tables` finds each vertex's mirror as the nearest vertex of the mirrored part.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from torch import Tensor

from deformlearn.core.body.skeletons import COCO_FLIP_INDEX, NUM_PARTS
from deformlearn.core.regressor.data import RegressorSamples, limit_points
from deformlearn.core.regressor.inputs import RegressorInputs

#: For each SMPL joint, its left/right mirror (itself on the midline).
SMPL_FLIP_INDEX: tuple[int, ...] = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22)
#: For each DensePose part 0..24, the part its mirror image lies on (torso back/front keep theirs).
DENSEPOSE_PART_FLIP: tuple[int, ...] = (0, 1, 2, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19,
                                        22, 21, 24, 23)
_MIRROR = torch.tensor([-1.0, 1.0, 1.0])  # the diagonal of M
_AXIS_ANGLE_MIRROR = torch.tensor([1.0, -1.0, -1.0])  # M R M for R = exp(w): axis-angle -M w


@dataclass(frozen=True)
class MirrorTables:
    """What a flip needs of the template. vertex: (V,) int64 mirror vertex of each vertex; vertex_part: (V,)
    int64 its DensePose part; vertex_uv: (V, 2) float32 its (U, V); uv_lut: (25, G, G, 2) float32, for part
    p and (U, V) cell (round(U (G-1)), round(V (G-1))) the (U, V) of the mirror point (on part
    DENSEPOSE_PART_FLIP[p]); row 0 (background) zeros."""

    vertex: Tensor
    vertex_part: Tensor
    vertex_uv: Tensor
    uv_lut: Tensor


def mirror_tables(template, grid: int = 32) -> MirrorTables:
    """MirrorTables of a template: each vertex's mirror is the vertex of the mirrored part nearest to its
    position mirrored through x = 0 (rest pose, body frame)."""
    rest = np.asarray(template.rest_vertices, np.float64)
    part = np.asarray(template.vertex_part, np.int64)
    uv = np.asarray(template.vertex_uv, np.float32)
    mirror = np.arange(len(rest))
    trees = {p: (np.flatnonzero(part == p), None) for p in range(1, NUM_PARTS + 1)}
    for p in range(1, NUM_PARTS + 1):
        own, other = trees[p][0], trees[DENSEPOSE_PART_FLIP[p]][0]
        if len(own) and len(other):
            _, nearest = cKDTree(rest[other]).query(rest[own] * np.array([-1.0, 1.0, 1.0]))
            mirror[own] = other[nearest]
    lut = np.zeros((NUM_PARTS + 1, grid, grid, 2), np.float32)
    cells = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij"), -1).reshape(-1, 2) / (grid - 1)
    for p in range(1, NUM_PARTS + 1):
        own = trees[p][0]
        if len(own):
            _, nearest = cKDTree(uv[own]).query(cells)
            lut[p] = uv[mirror[own[nearest]]].reshape(grid, grid, 2)
    return MirrorTables(torch.from_numpy(mirror), torch.from_numpy(part), torch.from_numpy(uv), torch.from_numpy(lut))


def mirror_pose(pose: Tensor) -> Tensor:
    """(B, 23, 3) axis-angle rotations of SMPL joints 1..23 -> those of the mirrored body."""
    index = torch.tensor(SMPL_FLIP_INDEX[1:], device=pose.device) - 1
    return pose[:, index] * _AXIS_ANGLE_MIRROR.to(pose)


def mirror_scales(scales: Tensor) -> Tensor:
    """(B, 24) segment scales -> those of the mirrored body."""
    return scales[:, torch.tensor(SMPL_FLIP_INDEX, device=scales.device)]


def mirror_rotation(rotation: Tensor) -> Tensor:
    """(B, 3, 3) body -> camera rotation R -> M R M, the rotation of the mirrored body in the mirrored image."""
    m = torch.diag(_MIRROR).to(rotation)
    return m @ rotation @ m


def flip_samples(batch: RegressorSamples, flip: Tensor, tables: MirrorTables) -> RegressorSamples:
    """The samples with people `flip` ((B,) bool) mirrored, labels and targets with them (module docstring)."""
    if not bool(flip.any()):
        return batch
    f2 = flip[:, None]
    kp_index = torch.tensor(COCO_FLIP_INDEX, device=flip.device)
    sign = torch.tensor([-1.0, 1.0], device=flip.device)
    vertex = torch.where(f2, tables.vertex.to(flip.device)[batch.vertex_index], batch.vertex_index)

    def pick(new: Tensor | None, old: Tensor | None) -> Tensor | None:
        if old is None:
            return None
        return torch.where(flip.view(-1, *([1] * (old.ndim - 1))), new, old)

    out = replace(
        batch, points=pick(batch.points * sign, batch.points), vertex_index=vertex,
        point_part=tables.vertex_part.to(flip.device)[vertex], point_uv=tables.vertex_uv.to(flip.device)[vertex],
        keypoints=pick(batch.keypoints[:, kp_index] * sign, batch.keypoints),
        keypoint_visible=pick(batch.keypoint_visible[:, kp_index], batch.keypoint_visible))
    if batch.has_targets:
        out = replace(
            out, pose=pick(mirror_pose(batch.pose), batch.pose), scales=pick(mirror_scales(batch.scales), batch.scales),
            rotation=pick(mirror_rotation(batch.rotation), batch.rotation),
            translation=pick(batch.translation * sign, batch.translation),
            keypoint_depths=pick(None if batch.keypoint_depths is None else batch.keypoint_depths[:, kp_index],
                                 batch.keypoint_depths))
    return out


def similarity_samples(batch: RegressorSamples, k: Tensor, phi: Tensor, c: Tensor) -> RegressorSamples:
    """Map every person's frame by p' = k_b Rot(phi_b) p + c_b (k, phi: (B,), c: (B, 2)), targets with it."""
    A = k[:, None, None] * _rot2(phi)

    def move(p: Tensor) -> Tensor:
        return p @ A.transpose(1, 2) + c[:, None, :]

    out = replace(batch, points=move(batch.points), keypoints=move(batch.keypoints))
    if batch.has_targets:
        rz = torch.eye(3, dtype=A.dtype, device=A.device).repeat(len(k), 1, 1)
        rz[:, :2, :2] = _rot2(phi)
        out = replace(out, rotation=rz @ batch.rotation, cam_scale=batch.cam_scale * k,
                      translation=move(batch.translation[:, None, :])[:, 0],
                      keypoint_depths=None if batch.keypoint_depths is None else batch.keypoint_depths * k[:, None])
    return out


def _rot2(phi: Tensor) -> Tensor:
    c, s = phi.cos(), phi.sin()
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def warp_images(images: Tensor, flip: Tensor, k: Tensor, phi: Tensor, c: Tensor) -> Tensor:
    """Resample (B, C, S, S) crops so that crop point p moves to k Rot(phi) F p + c (F: x -> -x where `flip`).
    Bilinear, zeros outside the old crop."""
    fx = torch.where(flip, -1.0, 1.0).to(images)
    A = k[:, None, None] * _rot2(phi) @ torch.diag_embed(torch.stack([fx, torch.ones_like(fx)], -1))
    inverse = torch.linalg.inv(A)
    theta = torch.cat([inverse, -(inverse @ c[:, :, None])], dim=2)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def mirror_iuv_channels(iuv: Tensor, tables: MirrorTables) -> Tensor:
    """(B, 26, S, S) IUV input (one-hot parts, U, V) of spatially flipped crops -> relabelled: each pixel's
    part through the flip table, its (U, V) through `tables.uv_lut`."""
    G = tables.uv_lut.shape[1]
    one_hot = iuv[:, :NUM_PARTS]
    best, index = one_hot.max(dim=1)
    part = torch.where(best > 0.5, index + 1, torch.zeros_like(index))
    cell_u = (iuv[:, NUM_PARTS].clamp(0, 1) * (G - 1)).round().long()
    cell_v = (iuv[:, NUM_PARTS + 1].clamp(0, 1) * (G - 1)).round().long()
    uv = tables.uv_lut.to(iuv.device)[part, cell_u, cell_v].permute(0, 3, 1, 2)
    source = torch.tensor([DENSEPOSE_PART_FLIP[p + 1] - 1 for p in range(NUM_PARTS)], device=iuv.device)
    return torch.cat([one_hot[:, source], uv.to(iuv.dtype)], dim=1)


@dataclass(frozen=True)
class Augmentation:
    """One batch's random draws, per person b (B people padded to N points): flip (B,) bool; k (B,) scale;
    phi (B,) in-plane rotation, radians; c (B, 2) shift; keep (B, N) bool points the input keeps;
    cut (B,) bool partial view or not, cut_normal (B, 2) and cut_offset (B,): the view drops p with
    p . normal > offset; uv_noise (B, N, 2) added to the input's U, V."""

    flip: Tensor
    k: Tensor
    phi: Tensor
    c: Tensor
    keep: Tensor
    cut: Tensor
    cut_normal: Tensor
    cut_offset: Tensor
    uv_noise: Tensor

    def subset(self, index: Tensor) -> Augmentation:
        return Augmentation(**{name: value[index] for name, value in self.__dict__.items()})

    def to(self, device: torch.device | str) -> Augmentation:
        return Augmentation(**{name: value.to(device) for name, value in self.__dict__.items()})


def draw_augmentation(n: int, num_points: int, settings, step: int) -> Augmentation:
    """The draws for a batch of n people padded to `num_points` (CPU tensors), from a generator seeded by
    (settings.seed, step) so that a resumed run draws the same ones. settings: a RegressorTrainingSettings."""
    gen = torch.Generator().manual_seed(settings.seed * 7919 + step + 1)

    def uniform(*shape: int) -> Tensor:
        return 2 * torch.rand(*shape, generator=gen) - 1

    k = 1 + settings.augment_zoom * uniform(n)
    c = settings.augment_shift * uniform(n, 2)
    phi = settings.augment_rotation * uniform(n)
    flip = torch.rand(n, generator=gen) < settings.augment_flip
    drop = settings.augment_dropout * torch.rand(n, 1, generator=gen)
    keep = torch.rand(n, num_points, generator=gen) >= drop
    cut = torch.rand(n, generator=gen) < settings.augment_partial
    angle = np.pi * uniform(n)
    normal = torch.stack([angle.cos(), angle.sin()], -1)
    offset = 0.6 * torch.rand(n, generator=gen)
    noise = settings.augment_uv_noise * torch.randn(n, num_points, 2, generator=gen)
    return Augmentation(flip, k, phi, c, keep, cut, normal, offset, noise)


def augment_batch(batch: RegressorSamples, images: Tensor | None, aug: Augmentation, tables: MirrorTables,
                  crop_mode: str | None, max_points: int) -> tuple[RegressorInputs, RegressorSamples]:
    """Apply `aug` (on the batch's device) to one batch: returns the model's inputs (images: (B, C, S, S) float
    crops of `crop_mode`, or None) and the moved samples the losses compare against (module docstring)."""
    moved = similarity_samples(flip_samples(batch, aug.flip, tables), aug.k, aug.phi, aug.c)
    outside = (moved.points * aug.cut_normal[:, None]).sum(-1) > aug.cut_offset[:, None]
    outside_kp = (moved.keypoints * aug.cut_normal[:, None]).sum(-1) > aug.cut_offset[:, None]
    cut = aug.cut[:, None]
    point_mask = moved.point_mask & aug.keep & ~(cut & outside)
    if images is not None:
        images = warp_images(images, aug.flip, aug.k, aug.phi, aug.c)
        if "iuv" in (crop_mode or "") and bool(aug.flip.any()):
            first = 3 if crop_mode == "rgb+iuv" else 0
            mirrored = mirror_iuv_channels(images[:, first:], tables)
            images = torch.where(aug.flip[:, None, None, None],
                                 torch.cat([images[:, :first], mirrored], dim=1), images)
        images = images * ~(aug.cut[:, None, None, None] & _pixels_beyond(images, aug))
    inputs = RegressorInputs(
        points=moved.points, part=moved.point_part, uv=(moved.point_uv + aug.uv_noise).clamp(0, 1),
        point_mask=limit_points(point_mask, max_points), keypoints=moved.keypoints,
        keypoint_visible=moved.keypoint_visible & ~(cut & outside_kp), images=images)
    return inputs, moved


def _pixels_beyond(images: Tensor, aug: Augmentation) -> Tensor:
    """(B, 1, S, S) bool: crop pixels whose centre lies beyond each person's cut line."""
    S = images.shape[-1]
    centres = -1 + (2 * torch.arange(S, device=images.device, dtype=images.dtype) + 1) / S
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    side = x[None] * aug.cut_normal[:, 0, None, None] + y[None] * aug.cut_normal[:, 1, None, None]
    return (side > aug.cut_offset[:, None, None])[:, None]
