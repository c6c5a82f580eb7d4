"""The registration loss of a batch, reorganised for speed: what `register` evaluates at every step.

`Objective` poses only the corresponded vertices and the keypoints of each person, by the factorised
skinning of `core.body.skinning.skin_factorised`, projects them, and returns every loss term per parameter
row (appendix eq. 7, the terms in core/registration/losses.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from deformlearn.core.body.rotations import axis_angle_to_rotmat, gram_schmidt_rotation
from deformlearn.core.body.skinning import (
    factorised_constants,
    forward_kinematics,
    joint_transforms,
    skin_factorised,
    stack_joint_maps,
)
from deformlearn.core.registration.data import RegistrationBatch
from deformlearn.core.registration.losses import (
    angle_loss,
    dense_loss,
    det_loss,
    hip_centred_depths,
    keypoint_loss,
    pose_prior_loss,
    scale_loss,
    upright_loss,
)
from deformlearn.core.registration.settings import RegistrationSettings

if TYPE_CHECKING:
    from deformlearn.core.registration.fitter import BodyParams

#: SMPL joint index of the neck (the top of the trunk for `upright_loss`).
_NECK = 12

#: People per chunk of the skinning product in `Objective` (its intermediates, ~40 KB a person, fit in cache).
_CHUNK_PEOPLE = 32


class Objective:
    """Evaluates the loss terms of B * M parameter rows (M starts per person, rows b * M + m) against B people.

    Only the corresponded vertices and the keypoints are posed. A skinned point is v = sum_j w_vj T_j h_v
    with h_v = [v_rest; 1]; with the joint maps turned by the camera, C_j = s R T_j (3 x 4), its camera
    coordinates are sum_c (sum_j C_j[:, c] w_vj) h_v[c]: one batched product C (12, J) @ W (J, N) per row,
    then a 4-term dot with h_v. This reads the N x J weights per person rather than the N x 4 J skinning
    basis (`BodyModel.skin_basis`) that the same sum as one product needs: 4x less memory traffic, measured
    5x faster forward + backward at B = 256 on a CPU. The keypoints (fixed combinations of vertices) use
    `BodyModel.keypoint_basis`, the same for everybody. The per-person constants are gathered once per fit,
    stored N-last; the M starts of a person share them as extra rows of C. This is `BodyModel.forward`
    followed by `weak_perspective_project`, reorganised (a test checks that they agree); the skinning itself
    is `core.body.skinning.skin_factorised`. After each call, `last_maps` holds its rotations (B*M, 3, 3)
    and joint maps (B*M, J, 3, 4), detached, from which the fitter skins the meshes of progress events.
    """

    def __init__(self, body_model: torch.nn.Module, batch: RegistrationBatch, settings: RegistrationSettings,
                 starts: int):
        self.batch, self.settings, self.M = batch, settings, starts
        self.rows = batch.repeat_interleave(starts) if starts > 1 else batch
        self.rest_joints, self.levels = body_model.rest_joints, body_model.levels
        self.target_depths = None if self.rows.depths is None else hip_centred_depths(self.rows.depths)
        J = body_model.rest_joints.shape[0]
        with torch.no_grad():
            index = batch.vertex_index
            self.weights_t, self.homogeneous_t = factorised_constants(body_model.rest_vertices[index],
                                                                      body_model.skin_weights[index])
            # keypoint_basis[k, 4 j + c] reordered to [c J + j, k], matching C's layout [x, c J + j].
            self.keypoint_basis_t = body_model.keypoint_basis.reshape(-1, J, 4).permute(2, 1, 0).reshape(4 * J, -1)
            # Targets laid out like the projections below ((BM, N, 2) views of (BM, 2, N) storage), so that
            # the loss's elementwise ops run on matching strides.
            self.points = self.rows.points.transpose(1, 2).contiguous().transpose(1, 2)

    def __call__(self, params: BodyParams) -> tuple[dict[str, Tensor], Tensor, Tensor, Tensor]:
        """-> (terms name -> (B*M,), total (B*M,), projected points (B*M, N, 2), projected keypoints (B*M, 17, 2))."""
        b, st, M = self.rows, self.settings, self.M
        rot = gram_schmidt_rotation(params.rotation)
        rotations, joints = forward_kinematics(axis_angle_to_rotmat(params.pose), params.scales,
                                               self.rest_joints, self.levels)
        transforms = joint_transforms(rotations, joints, params.scales, self.rest_joints)    # (BM, J, 3, 4)
        self.last_maps = (rot.detach(), transforms.detach())  # for the watched meshes of progress events
        # The camera s R turns the joint maps, (3, 3) @ (3, 4 J) per row.
        cam_maps = torch.bmm(rot * params.scale[:, None, None], stack_joint_maps(transforms))  # (BM, 3, 4 J)
        cam = skin_factorised(cam_maps, self.weights_t, self.homogeneous_t, M, _CHUNK_PEOPLE)  # (BM, 3, N)
        cam_kp = torch.matmul(cam_maps, self.keypoint_basis_t)                               # (BM, 3, 17)
        points_2d = (cam[:, :2] + params.translation[:, :, None]).transpose(1, 2)
        kp_2d = (cam_kp[:, :2] + params.translation[:, :, None]).transpose(1, 2)
        kp_depth = hip_centred_depths(cam_kp[:, 2]) if self.target_depths is not None else None
        terms = {
            "dense": dense_loss(points_2d, self.points, b.point_mask),
            "KP": keypoint_loss(kp_2d, b.keypoints, b.keypoint_visible if b.keypoint_weight is None else b.keypoint_weight,
                                kp_depth, self.target_depths, b.depth_mask),
            "scale": scale_loss(params.scales),
            "angle": angle_loss(params.pose),
            "det": det_loss(params.rotation),
        }
        total = (st.w_dense * terms["dense"] + st.w_KP * terms["KP"] + st.w_scale * terms["scale"]
                 + st.w_joint * terms["angle"] + st.w_det * terms["det"])
        if st.w_pose_prior > 0:  # the optional priors are terms only when on
            terms["prior"] = pose_prior_loss(params.pose)
            total = total + st.w_pose_prior * terms["prior"]
        if st.w_upright > 0:
            terms["upright"] = upright_loss(rot, joints[:, 0], joints[:, _NECK])
            total = total + st.w_upright * terms["upright"]
        return terms, total, points_2d, kp_2d
