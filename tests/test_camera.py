"""Weak-perspective projection and the frontal camera rotation."""

from __future__ import annotations

import math

import pytest
import torch

from deformlearn.core.body.camera import frontal_rotation, weak_perspective_project
from deformlearn.core.body.rotations import axis_angle_to_rotmat


def test_known_point_projection() -> None:
    R = axis_angle_to_rotmat(torch.tensor([[0.0, math.pi / 2, 0.0]]))  # 90 degrees about y: x -> -z, z -> x
    points = torch.tensor([[[1.0, 2.0, 3.0]]])
    xy, depth = weak_perspective_project(points, R, torch.tensor([2.0]), torch.tensor([[10.0, -5.0]]))
    # R X = (3, 2, -1); s * (3, 2) + t = (16, -1); depth s * -1 = -2
    torch.testing.assert_close(xy, torch.tensor([[[16.0, -1.0]]]))
    torch.testing.assert_close(depth, torch.tensor([[-2.0]]))


def test_frontal_rotation_looks_at_a_person_facing_the_camera() -> None:
    R = frontal_rotation(2)
    assert R.shape == (2, 3, 3) and torch.linalg.det(R[0]) == 1.0
    # body-left hand (+x), head (+y), nose (+z) of a body at the origin
    points = torch.tensor([[[0.5, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 0.1]]]).repeat(2, 1, 1)
    xy, depth = weak_perspective_project(points, R, torch.ones(2), torch.zeros(2, 2))
    assert xy[0, 0, 0] > 0  # the body's left appears on the image's right
    assert xy[0, 1, 1] < 0  # the head is up, at smaller image y
    assert depth[0, 2] < 0  # the nose is nearer the viewer than the root


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="points"):
        weak_perspective_project(torch.zeros(2, 5, 2), frontal_rotation(2), torch.ones(2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="scale"):
        weak_perspective_project(torch.zeros(2, 5, 3), frontal_rotation(2), torch.ones(2, 1), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="translation"):
        weak_perspective_project(torch.zeros(2, 5, 3), frontal_rotation(2), torch.ones(2), torch.zeros(2, 3))
