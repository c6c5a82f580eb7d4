"""Segment-scaled linear blend skinning `v = X(S, a)`: pure functions over tensors (smplx lbs.py style).

Definition. The body frame is SMPL's (metres, y up, facing +z, body-left +x) with the root (pelvis) joint
at the origin after posing. Inputs per image:
- pose a: (B, 23, 3) axis-angle rotations of joints 1..23 relative to their parents (the root's
  orientation is the camera rotation, not part of the body), here already as matrices (B, 23, 3, 3);
- segment scales s: (B, 24); s_j isotropically scales segment j's geometry about joint j.

Forward kinematics gives each joint a posed rigid transform G_j = (R_j, t_j): R_0 = I, t_0 = 0 and, for a
child c of joint p,  R_c = R_p Rrel_c,  t_c = t_p + R_p s_p (J_c - J_p),  with J the rest joints. So
scaling segment p lengthens the bone(s) from p to its children by s_p, and does not scale the children's
own geometry (each child has its own s_c). A rest vertex v bound to joint j goes to
G_j(s_j (v - J_j)) = s_j R_j v + (t_j - s_j R_j J_j) =: T_j v, which is the paper's T_j = A_j S_j with S_j
applied in joint j's local frame. Skinning blends these affine maps: v' = sum_j w_vj T_j v.

Speed. Forward kinematics runs one batched (3 x 4) @ (4 x 4) product per tree depth (8 for SMPL), not one
per joint.
Skinning is linear in the 24 affine maps, so each vertex's pose-independent `skinning_basis`
(w_j times its homogeneous rest position, 4 x 24 values) turns it into ONE matrix product
(B, N, 96) @ (B, 96, 3), whose backward is one more. With only 24 joints this dense product is faster on a
CPU than gathering per-vertex top-k joint transforms (whose backward is a scatter-add; measured 14 ms
against 1.6 ms for blending weights densely, forward+backward at B=256, N=150). Top-k weights
(`topk_skin_weights`) are therefore a truncation of the weights, not a different code path.
The registration step (core/registration/fitter.py) evaluates the same sum factorised (`skin_factorised`),
(12, J) @ (J, N) and then a dot with [v; 1], which reads the (N, J) weights instead of the (N, 4 J) basis
(measured 12 ms -> 2.4 ms forward + backward at B = 256, N = 196 on one CPU thread): there the data read
per step, not the arithmetic, bounds the speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from deformlearn.core.shape_checks import check_shape


@dataclass(frozen=True)
class KinematicLevels:
    """The kinematic tree cut into depth levels, for forward kinematics one level at a time.

    sizes: number of joints at each depth 1, 2, ...; children, parents: (J-1,) long, the non-root joints
    level by level and the parent of each; parents_local[d]: (sizes[d],) long, for each joint at depth d+1
    its parent's position within depth d; inverse: (J,) each joint's position in the root-first level order.
    Shortcuts (SMPL's joint order is already level order, and most levels' parents are consecutive):
    in_level_order: whether inverse is the identity; parent_ranges[d]: (start, length) when parents_local[d]
    is start, start + 1, ..., else None.
    """

    num_joints: int
    sizes: tuple[int, ...]
    children: Tensor
    parents: Tensor
    parents_local: tuple[Tensor, ...]
    inverse: Tensor
    in_level_order: bool
    parent_ranges: tuple[tuple[int, int] | None, ...]


def kinematic_levels(parents: np.ndarray | Tensor) -> KinematicLevels:
    """Group the joints of a tree (parents: (J,) with -1 at the single root, joint 0) by depth."""
    parents = np.asarray(parents.cpu() if isinstance(parents, Tensor) else parents, dtype=np.int64)
    J = parents.shape[0]
    if parents.ndim != 1 or parents[0] != -1 or (parents[1:] < 0).any() or (parents[1:] >= np.arange(1, J)).any():
        raise ValueError(f"parents: expected a (J,) tree with parents[0] = -1 and parents[j] < j, got {parents}")
    depth = np.zeros(J, dtype=np.int64)
    for j in range(1, J):
        depth[j] = depth[parents[j]] + 1
    levels = [np.flatnonzero(depth == d) for d in range(depth.max() + 1)]
    parents_local = []
    for d in range(1, len(levels)):
        slot = {int(j): i for i, j in enumerate(levels[d - 1])}
        parents_local.append(torch.as_tensor([slot[int(parents[c])] for c in levels[d]], dtype=torch.long))
    children = np.concatenate(levels[1:])
    inverse = np.empty(J, dtype=np.int64)
    inverse[np.concatenate(levels)] = np.arange(J)
    ranges = tuple((int(p[0]), len(p)) if bool((p.diff() == 1).all()) else None for p in parents_local)
    return KinematicLevels(J, tuple(len(lv) for lv in levels[1:]), torch.as_tensor(children),
                           torch.as_tensor(parents[children]), tuple(parents_local), torch.as_tensor(inverse),
                           bool((inverse == np.arange(J)).all()), ranges)


def forward_kinematics(rel_rotations: Tensor, scales: Tensor, rest_joints: Tensor,
                       levels: KinematicLevels) -> tuple[Tensor, Tensor]:
    """Posed joint frames with segment scales.

    Args:
        rel_rotations: (B, J-1, 3, 3) rotation of joints 1..J-1 relative to their parents.
        scales: (B, J) segment scales.
        rest_joints: (J, 3) rest joint positions, body frame.
        levels: from `kinematic_levels(parents)`, on the inputs' device.
    Returns:
        rotations: (B, J, 3, 3) global rotation R_j of each joint (R_0 = I).
        joints: (B, J, 3) posed joint positions t_j, root at the origin.
    """
    J = levels.num_joints
    B = check_shape(scales, ("B", J), "forward_kinematics: scales")["B"]
    check_shape(rel_rotations, (B, J - 1, 3, 3), "forward_kinematics: rel_rotations")
    check_shape(rest_joints, (J, 3), "forward_kinematics: rest_joints")
    if not levels.in_level_order:
        rel_rotations = rel_rotations.index_select(1, levels.children - 1)
    bones = rest_joints[levels.children] - rest_joints[levels.parents]
    bones = bones * scales.index_select(1, levels.parents)[..., None]                       # (B, J-1, 3)
    # Each non-root joint's map in its parent's frame as a 4x4 [[Rrel, s_p bone], [0, 0, 0, 1]]: a level
    # is then ONE batched (3 x 4) @ (4 x 4) product G_c = G_p L_c, forwards and backwards.
    last_row = scales.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(B, J - 1, 1, 4)
    local = torch.cat((torch.cat((rel_rotations, bones[..., None]), -1), last_row), -2).split(levels.sizes, 1)
    frame = local[0][:, :, :3]                              # depth 1 hangs from the root, whose frame is I
    root = torch.eye(3, 4, dtype=scales.dtype, device=scales.device).expand(B, 1, 3, 4)
    frames = [root, frame]
    for plocal, prange, local_d in zip(levels.parents_local[1:], levels.parent_ranges[1:], local[1:]):
        # a slice is a view: cheaper than a gather, forwards and backwards
        parent = frame.index_select(1, plocal) if prange is None else frame.narrow(1, *prange)
        frame = parent @ local_d
        frames.append(frame)
    frames_all = torch.cat(frames, 1)                                                       # (B, J, 3, 4)
    if not levels.in_level_order:
        frames_all = frames_all.index_select(1, levels.inverse)
    return frames_all[..., :3], frames_all[..., 3]


def joint_transforms(rotations: Tensor, joints: Tensor, scales: Tensor, rest_joints: Tensor) -> Tensor:
    """(B, J, 3, 4) affine maps T_j = A_j S_j from rest to posed body frame: x -> s_j R_j (x - J_j) + t_j.

    rotations: (B, J, 3, 3), joints: (B, J, 3) from `forward_kinematics`; scales: (B, J); rest_joints: (J, 3).
    """
    linear = rotations * scales[:, :, None, None]
    offset = joints - (linear @ rest_joints[None, :, :, None])[..., 0]
    return torch.cat((linear, offset[..., None]), dim=-1)


def skinning_basis(rest_vertices: Tensor, skin_weights: Tensor) -> Tensor:
    """Per-vertex constants that make skinning one matrix product: (..., 3), (..., J) -> (..., 4 J).

    basis[..., 4 j + c] = w_j * (x, y, z, 1)[c], so that v' = sum_j w_j T_j (x, y, z, 1) is
    basis @ (the T_j stacked as (4 J, 3)); see `skin_with_basis`. It does not depend on pose or scales,
    so a caller that skins the same vertices repeatedly computes it once.
    """
    check_shape(rest_vertices, ("...", 3), "skinning_basis: rest_vertices")
    check_shape(skin_weights, (*rest_vertices.shape[:-1], "J"), "skinning_basis: skin_weights")
    homogeneous = torch.cat((rest_vertices, torch.ones_like(rest_vertices[..., :1])), dim=-1)
    return (skin_weights[..., :, None] * homogeneous[..., None, :]).flatten(-2)


def skin_with_basis(transforms: Tensor, basis: Tensor) -> Tensor:
    """Skin vertices given their `skinning_basis`.

    Args:
        transforms: (B, J, 3, 4) from `joint_transforms`.
        basis: (B, N, 4 J) per-image vertices, or (N, 4 J) the same vertices for every image. Stored
            transposed, `b.transpose(-1, -2).contiguous().transpose(-1, -2)`, it multiplies about twice as
            fast on a CPU (the product runs as (3, 4 J) @ (4 J, N)).
    Returns:
        (B, N, 3) posed vertices, body frame.
    """
    sizes = check_shape(transforms, ("B", "J", 3, 4), "transforms")
    B, J = sizes["B"], sizes["J"]
    check_shape(basis, (B, "N", 4 * J) if basis.dim() == 3 else ("N", 4 * J), "basis")
    stacked_t = transforms.permute(0, 2, 1, 3).reshape(B, 3, 4 * J)           # [b, x, 4 j + c] = T_j[x, c]
    basis_t = basis.transpose(-1, -2)                                  # (B, 4 J, N) or (4 J, N)
    out_t = torch.bmm(stacked_t, basis_t) if basis.dim() == 3 else torch.matmul(stacked_t, basis_t)
    return out_t.transpose(1, 2).contiguous()


def stack_joint_maps(transforms: Tensor) -> Tensor:
    """(B, J, 3, 4) joint maps -> (B, 3, 4 J) laid out [x, c J + j] = T_j[x, c], the layout of `skin_factorised`."""
    sizes = check_shape(transforms, ("B", "J", 3, 4), "transforms")
    return transforms.permute(0, 2, 3, 1).reshape(sizes["B"], 3, 4 * sizes["J"])


def factorised_constants(rest_vertices: Tensor, skin_weights: Tensor) -> tuple[Tensor, Tensor]:
    """Per-person constants of `skin_factorised`: rest_vertices (B, N, 3), skin_weights (B, N, J) ->
    weights_t (B, J, N) and homogeneous_t (B, 4, 1, N) = [v; 1], both stored N-last (contiguous)."""
    sizes = check_shape(rest_vertices, ("B", "N", 3), "rest_vertices")
    check_shape(skin_weights, ("B", "N", "J"), "skin_weights", sizes)
    homogeneous = torch.cat([rest_vertices, torch.ones_like(rest_vertices[..., :1])], -1)
    return skin_weights.transpose(1, 2).contiguous(), homogeneous.transpose(1, 2).contiguous()[:, :, None]


def skin_factorised(maps: Tensor, weights_t: Tensor, homogeneous_t: Tensor, starts: int = 1, chunk: int = 32
                    ) -> Tensor:
    """The skinning sum factorised (module docstring, Speed): v' = sum_c (sum_j M_j[:, c] w_vj) h_v[c].

    maps: (B * M, 3, 4 J) affine joint maps in `stack_joint_maps`' layout, any frame (the registration passes
        them turned by its camera, s R T_j), row b * M + m = start m of person b; M = `starts`;
    weights_t: (B, J, N), homogeneous_t: (B, 4, 1, N) from `factorised_constants`, shared by a person's starts.
    chunk: people per product, so that each chunk's (chunk, 4, 3 M, N) blend stays in cache from the product
        to the dot, forwards and backwards (measured 5-10% faster per step at B = 1024, no change at 256).
    Returns (B * M, 3, N) the skinned points in the maps' frame, N-last.
    """
    sizes = check_shape(weights_t, ("B", "J", "N"), "weights_t")
    B, J, N = sizes["B"], sizes["J"], sizes["N"]
    check_shape(homogeneous_t, (B, 4, 1, N), "homogeneous_t")
    check_shape(maps, (B * starts, 3, 4 * J), "maps")
    # Rows ordered [c, m, x]: the dot with h_v then broadcasts h_v over a middle dimension, which runs
    # ~6x faster than over the second one (measured).
    by_c = maps.reshape(B, starts * 3, 4, J).transpose(1, 2).reshape(B, 4 * starts * 3, J)
    return torch.cat([(torch.bmm(maps_k, weights_k).reshape(-1, 4, starts * 3, N) * homogeneous_k).sum(1)
                      for maps_k, weights_k, homogeneous_k in zip(by_c.split(chunk), weights_t.split(chunk),
                                                                   homogeneous_t.split(chunk))]).reshape(-1, 3, N)


def topk_skin_weights(skin_weights: Tensor, k: int) -> Tensor:
    """(V, J) weights keeping each vertex's k largest, renormalised to sum to 1 (same shape, dense)."""
    if not 1 <= k <= skin_weights.shape[1]:
        raise ValueError(f"topk: expected 1..{skin_weights.shape[1]}, got {k}")
    values, index = skin_weights.topk(k, dim=1)
    values = values / values.sum(1, keepdim=True).clamp_min(1e-12)
    return torch.zeros_like(skin_weights).scatter_(1, index, values)


__all__ = [
    "KinematicLevels", "kinematic_levels", "forward_kinematics", "joint_transforms", "skinning_basis",
    "skin_with_basis", "stack_joint_maps", "factorised_constants", "skin_factorised", "topk_skin_weights",
]
