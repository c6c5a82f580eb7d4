"""Rotation conversions: round trips, conventions, Gram-Schmidt with its determinant sign, shape errors."""

from __future__ import annotations

import math

import pytest
import torch

from deformlearn.core.body.rotations import (
    axis_angle_to_quaternion,
    axis_angle_to_rotmat,
    gram_schmidt_rotation,
    quaternion_to_axis_angle,
    quaternion_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_quaternion,
)


def _random_axis_angle(*shape: int, max_angle: float = 3.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(*shape, 3, generator=g, dtype=torch.float64), dim=-1)
    return axis * torch.rand(*shape, 1, generator=g, dtype=torch.float64) * max_angle


def test_axis_angle_matrix_round_trip() -> None:
    aa = _random_axis_angle(5, 7)
    R = axis_angle_to_rotmat(aa)
    assert R.shape == (5, 7, 3, 3)
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(5, 7, dtype=R.dtype))
    torch.testing.assert_close(rotmat_to_axis_angle(R), aa)


def test_quaternion_round_trips_and_xyzw_convention() -> None:
    aa = _random_axis_angle(64)
    q = axis_angle_to_quaternion(aa)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(64, dtype=q.dtype))
    torch.testing.assert_close(quaternion_to_axis_angle(q), aa)
    torch.testing.assert_close(quaternion_to_rotmat(q), axis_angle_to_rotmat(aa))
    q2 = rotmat_to_quaternion(axis_angle_to_rotmat(aa))
    # q and -q are the same rotation: compare up to sign.
    sign = torch.sign((q * q2).sum(-1, keepdim=True))
    torch.testing.assert_close(q2 * sign, q)
    # Scalar last: 90 degrees about z is (0, 0, sin 45, cos 45).
    q_z = axis_angle_to_quaternion(torch.tensor([0.0, 0.0, math.pi / 2]))
    s = math.sqrt(0.5)
    torch.testing.assert_close(q_z, torch.tensor([0.0, 0.0, s, s]))
    # Unnormalised quaternions are normalised first.
    torch.testing.assert_close(quaternion_to_rotmat(3.0 * q), quaternion_to_rotmat(q))


def test_axis_angle_direction_is_right_handed() -> None:
    R = axis_angle_to_rotmat(torch.tensor([0.0, 0.0, math.pi / 2]))
    torch.testing.assert_close(R @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))


def test_gram_schmidt_of_rotation_is_itself() -> None:
    R = axis_angle_to_rotmat(_random_axis_angle(32))
    torch.testing.assert_close(gram_schmidt_rotation(R), R)
    torch.testing.assert_close(gram_schmidt_rotation(R.reshape(32, 9)), R)


def test_gram_schmidt_orthonormalises_and_keeps_det_sign() -> None:
    g = torch.Generator().manual_seed(1)
    M = torch.randn(200, 3, 3, generator=g, dtype=torch.float64)
    Q = gram_schmidt_rotation(M)
    torch.testing.assert_close(Q.transpose(-1, -2) @ Q, torch.eye(3, dtype=Q.dtype).expand_as(Q))
    torch.testing.assert_close(torch.linalg.det(Q), torch.sign(torch.linalg.det(M)))
    assert (torch.linalg.det(M) < 0).any() and (torch.linalg.det(M) > 0).any()
    # The first column keeps its direction; a reflection stays a reflection.
    torch.testing.assert_close(Q[:, :, 0], torch.nn.functional.normalize(M[:, :, 0], dim=-1))
    reflection = torch.diag(torch.tensor([1.0, 1.0, -1.0]))
    torch.testing.assert_close(gram_schmidt_rotation(reflection), reflection)


def test_gradients_finite_at_identity() -> None:
    aa = torch.zeros(4, 3, requires_grad=True)
    values = torch.eye(3).reshape(1, 9).repeat(4, 1).requires_grad_(True)
    loss = (axis_angle_to_rotmat(aa) * torch.randn(4, 3, 3)).sum()
    loss = loss + (gram_schmidt_rotation(values) * torch.randn(4, 3, 3)).sum()
    loss.backward()
    assert torch.isfinite(aa.grad).all() and aa.grad.abs().sum() > 0
    assert torch.isfinite(values.grad).all() and values.grad.abs().sum() > 0


def test_axis_angle_to_rotmat_matches_roma_at_all_angles() -> None:
    """The hand-written Rodrigues formula against roma's, from 0 through tiny angles (series branch) to pi."""
    import roma

    g = torch.Generator().manual_seed(3)
    axis = torch.nn.functional.normalize(torch.randn(400, 3, generator=g, dtype=torch.float64), dim=-1)
    angle = torch.cat([torch.zeros(1), torch.logspace(-12, math.log10(math.pi), 399)]).double()[:, None]
    aa = axis * angle
    torch.testing.assert_close(axis_angle_to_rotmat(aa), roma.rotvec_to_rotmat(aa), atol=1e-11, rtol=0)
    torch.testing.assert_close(axis_angle_to_rotmat(aa.float()), roma.rotvec_to_rotmat(aa.float()), atol=1e-6, rtol=0)
    for x in (aa[[0, 1, 150, 399]], torch.zeros(2, 3, dtype=torch.float64)):
        assert torch.autograd.gradcheck(axis_angle_to_rotmat, (x.clone().requires_grad_(True),))


@pytest.mark.parametrize(
    "fn, bad",
    [
        (axis_angle_to_rotmat, torch.zeros(5, 4)),
        (rotmat_to_axis_angle, torch.zeros(5, 3)),
        (quaternion_to_rotmat, torch.zeros(5, 3)),
        (gram_schmidt_rotation, torch.zeros(5, 8)),
    ],
)
def test_bad_shapes_raise_clear_errors(fn, bad) -> None:
    with pytest.raises(ValueError, match="expected shape"):
        fn(bad)
