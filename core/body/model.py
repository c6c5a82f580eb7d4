"""The torch body model: a `Template` as module buffers, posed and segment-scaled by `core.body.skinning`.

Everything it returns is in the body frame of `core.body.skinning`: SMPL's (metres, y up, facing +z, body-left
+x) with the root joint at the origin. The camera (`core.body.camera`) rotates, scales and places it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from deformlearn.core.body.rotations import axis_angle_to_rotmat
from deformlearn.core.body.skinning import (
    KinematicLevels,
    forward_kinematics,
    joint_transforms,
    kinematic_levels,
    skin_with_basis,
    skinning_basis,
    topk_skin_weights,
)
from deformlearn.core.body.template import Template
from deformlearn.core.shape_checks import check_shape


@dataclass(frozen=True)
class BodyOutput:
    """A posed body, body frame (root at the origin), metres.

    vertices: (B, N, 3) the requested vertices, or (B, V, 3) all of them.
    joints: (B, 24, 3) posed joint centres.
    keypoints: (B, 17, 3) COCO-17 keypoints (template.keypoint_weights applied to the posed mesh).
    """

    vertices: Tensor
    joints: Tensor
    keypoints: Tensor


class BodyModel(torch.nn.Module):
    """Segment-scaled linear blend skinning of a template, `v = X(S, a)`.

    Args:
        template: the rigged template (kept as `.template`; its arrays become float32/long buffers).
        topk: None keeps the template's skinning weights exactly; k keeps each vertex's k largest weights,
            renormalised (a sparse model, as used by some SMPL ports). It does not change the speed: the
            skinning is one dense (B, N, 96) @ (B, 96, 3) product either way (see core.body.skinning).
    """

    rest_vertices: Tensor
    skin_weights: Tensor
    rest_joints: Tensor
    skin_basis: Tensor
    keypoint_basis: Tensor

    def __init__(self, template: Template, *, topk: int | None = None) -> None:
        super().__init__()
        self.template = template
        weights = torch.as_tensor(template.skin_weights, dtype=torch.float32)
        if topk is not None:
            weights = topk_skin_weights(weights, topk)
        self.topk = topk
        self.register_buffer("rest_vertices", torch.as_tensor(template.rest_vertices, dtype=torch.float32))
        self.register_buffer("skin_weights", weights)
        self.register_buffer("rest_joints", torch.as_tensor(template.rest_joints, dtype=torch.float32))
        basis = skinning_basis(self.rest_vertices, weights)             # (V, 96), stored transposed
        self.register_buffer("skin_basis", basis.t().contiguous().t())
        # Keypoints are linear in the vertices: fold keypoint_weights into the basis of the vertices they use.
        kw = torch.as_tensor(template.keypoint_weights, dtype=torch.float32)
        used = torch.nonzero(kw.abs().sum(0) > 0)[:, 0]
        self.register_buffer("keypoint_basis", kw[:, used] @ self.skin_basis[used])  # (17, 96)
        self._subset_cache: tuple[Tensor, int, Tensor] | None = None
        levels = kinematic_levels(template.parents)
        self._level_sizes, self._level_shortcuts = levels.sizes, (levels.in_level_order, levels.parent_ranges)
        self.register_buffer("_level_children", levels.children, persistent=False)
        self.register_buffer("_level_parents", levels.parents, persistent=False)
        self.register_buffer("_level_inverse", levels.inverse, persistent=False)
        for d, plocal in enumerate(levels.parents_local):
            self.register_buffer(f"_level_parents_local_{d}", plocal, persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.rest_vertices.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.rest_joints.shape[0])

    @property
    def levels(self) -> KinematicLevels:
        """The kinematic tree by depth, on this module's device."""
        return KinematicLevels(
            num_joints=self.num_joints, sizes=self._level_sizes, children=self._level_children,
            parents=self._level_parents, inverse=self._level_inverse,
            parents_local=tuple(getattr(self, f"_level_parents_local_{d}") for d in range(len(self._level_sizes))),
            in_level_order=self._level_shortcuts[0], parent_ranges=self._level_shortcuts[1],
        )

    def neutral_parameters(self, batch: int = 1) -> tuple[Tensor, Tensor]:
        """The T-pose: pose (batch, 23, 3) zeros and scales (batch, 24) ones, on the module's device."""
        ref = self.rest_vertices
        return ref.new_zeros(batch, self.num_joints - 1, 3), ref.new_ones(batch, self.num_joints)

    def forward(self, pose: Tensor, scales: Tensor, vertex_index: Tensor | None = None) -> BodyOutput:
        """Pose and scale the body.

        Args:
            pose: (B, 23, 3) axis-angle rotations of joints 1..23 relative to their parents.
            scales: (B, 24) segment scales (1 = template size).
            vertex_index: (B, N) long indices of the vertices to compute per image, or None for all V.
        Returns:
            BodyOutput with vertices (B, N, 3) or (B, V, 3), joints (B, 24, 3), keypoints (B, 17, 3).
        """
        J = self.num_joints
        B = check_shape(pose, ("B", J - 1, 3), "pose")["B"]
        check_shape(scales, (B, J), "scales")
        rotations, joints = forward_kinematics(axis_angle_to_rotmat(pose), scales, self.rest_joints, self.levels)
        transforms = joint_transforms(rotations, joints, scales, self.rest_joints)
        basis = self.skin_basis if vertex_index is None else self._subset_basis(vertex_index, B)
        vertices = skin_with_basis(transforms, basis)
        keypoints = skin_with_basis(transforms, self.keypoint_basis)
        return BodyOutput(vertices=vertices, joints=joints, keypoints=keypoints)

    def _subset_basis(self, vertex_index: Tensor, batch: int) -> Tensor:
        """(B, N, 96) skinning basis of the requested vertices, reused while the same index tensor comes back.

        A fitter passes the same (B, N) index at every step; gathering the basis anew each time would cost
        as much as the skinning itself. The cache holds one entry, keyed by tensor identity and version.
        """
        check_shape(vertex_index, (batch, "N"), "vertex_index")
        if vertex_index.dtype != torch.long:
            raise ValueError(f"vertex_index: expected dtype torch.long, got {vertex_index.dtype}")
        cache = self._subset_cache
        if (cache is not None and cache[0] is vertex_index and cache[1] == vertex_index._version
                and cache[2].device == self.skin_basis.device and cache[2].dtype == self.skin_basis.dtype):
            return cache[2]
        if vertex_index.numel() and (int(vertex_index.min()) < 0 or int(vertex_index.max()) >= self.num_vertices):
            raise ValueError(f"vertex_index: values must lie in 0..{self.num_vertices - 1}")
        basis = self.skin_basis[vertex_index].transpose(1, 2).contiguous().transpose(1, 2)  # see skin_with_basis
        self._subset_cache = (vertex_index, vertex_index._version, basis)
        return basis

    def rest_output(self, batch: int = 1) -> BodyOutput:
        """The unposed, unscaled body (root-centred rest mesh), all vertices."""
        return self(*self.neutral_parameters(batch))


__all__ = ["BodyModel", "BodyOutput"]
