"""Synthetic registration targets drawn straight from the body model, with their ground truth.

For tests and benchmarks of the fitter (no rendering): a random body (pose within sensible limits, segment
scales ~ N(1, 0.05)) seen by a random weak-perspective camera in "pixels"; its dense points are projected
camera-facing vertices with known vertex indices, its keypoints the model's projected COCO-17 keypoints
(all visible), its oracle depths their true depths. Everything then goes through the same pixel ->
normalised-frame path (`PersonTargets.from_pixels`) as real people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from deformlearn.core.body.camera import frontal_rotation, weak_perspective_project
from deformlearn.core.registration.data import PersonTargets, square_box
from deformlearn.core.render import vertex_normals
from deformlearn.core.synth.poses import sample_limited_poses


@dataclass(frozen=True, eq=False)
class SyntheticPerson:
    """targets: what the fitter sees (depths = oracle depths, normalised frame). Ground truth: pose (23, 3),
    scales (24,), rotation (3, 3) body -> camera, yaw (radians about the body's vertical axis), joints (24, 3)
    and vertices (V, 3) in the camera-rotated frame R X (metres, root at the origin)."""

    targets: PersonTargets
    pose: np.ndarray
    scales: np.ndarray
    rotation: np.ndarray
    yaw: float
    joints: np.ndarray
    vertices: np.ndarray


def _rot(axis: int, angle: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(angle), torch.sin(angle)
    o, z = torch.ones_like(c), torch.zeros_like(c)
    rows = {0: [o, z, z, z, c, -s, z, s, c], 1: [c, z, s, z, o, z, -s, z, c], 2: [c, -s, z, s, c, z, z, z, o]}
    return torch.stack(rows[axis], -1).reshape(*angle.shape, 3, 3)


def make_synthetic_people(body_model: torch.nn.Module, count: int, seed: int = 0,
                          points: tuple[int, int] = (100, 200), yaw_range: float = math.pi, yaw_offset: float = 0.0,
                          tilt: float = 0.15, scale_sigma: float = 0.05, pose_spread: float = 0.12
                          ) -> list[SyntheticPerson]:
    """`count` random people. points: (min, max) dense points per person (drawn uniformly, so people differ);
    yaw drawn in yaw_offset + [-yaw_range, yaw_range) radians (0 = facing the camera); tilt: std of the
    camera's pitch and roll (radians); scale_sigma: std of the segment scales about 1; pose_spread: of the one
    pose sampler (`core.synth.poses.sample_limited_poses`, around the T-pose, within joint limits)."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    pose = torch.from_numpy(sample_limited_poses(rng, count, spread=pose_spread, centre="tpose"))
    scales = 1.0 + scale_sigma * torch.randn(count, 24, generator=g)
    yaw = yaw_offset + (torch.rand(count, generator=g) * 2 - 1) * yaw_range
    pitch, roll = tilt * torch.randn(count, generator=g), tilt * torch.randn(count, generator=g)
    rotation = frontal_rotation(count) @ _rot(0, pitch) @ _rot(2, roll) @ _rot(1, yaw)
    px_scale = 150.0 + 150.0 * torch.rand(count, generator=g)        # pixels per metre
    px_shift = 200.0 + 400.0 * torch.rand(count, 2, generator=g)      # image position of the root
    faces = torch.as_tensor(body_model.template.faces)
    people = []
    with torch.no_grad():
        device = body_model.rest_vertices.device
        out = body_model(pose.to(device), scales.to(device), None)
        out = type(out)(*(x.cpu() for x in (out.vertices, out.joints, out.keypoints)))
        cam = out.vertices @ rotation.transpose(1, 2)
        facing = torch.as_tensor(vertex_normals(cam.numpy(), faces.numpy())[..., 2] < 0)  # camera z points away
        all_xy, _ = weak_perspective_project(out.vertices, rotation, px_scale, px_shift)
        kp_xy, kp_depth = weak_perspective_project(out.keypoints, rotation, px_scale, px_shift)
        joints = out.joints @ rotation.transpose(1, 2)
    for b in range(count):
        visible = np.flatnonzero(facing[b].numpy())
        n = int(rng.integers(points[0], points[1] + 1))
        index = rng.choice(visible, size=min(n, len(visible)), replace=False)
        xy = all_xy[b].numpy()
        lo, hi = xy.min(0), xy.max(0)
        bbox = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
        keypoints = np.concatenate([kp_xy[b].numpy(), np.full((17, 1), 2.0)], 1)
        _, half = square_box(bbox)
        targets = PersonTargets.from_pixels(b, bbox, xy[index], index, keypoints,
                                            depths=(kp_depth[b].numpy() / half).astype(np.float32))
        people.append(SyntheticPerson(targets, pose[b].numpy(), scales[b].numpy(), rotation[b].numpy(),
                                      float(yaw[b]), joints[b].numpy(), cam[b].numpy()))
    return people
