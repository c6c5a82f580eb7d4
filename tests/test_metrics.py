"""Metrics with known answers: MPJPE protocol, Procrustes, per-pixel and per-vertex errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deformlearn.core import metrics


def _random_rotation(gen: torch.Generator) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@pytest.fixture
def skeletons() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(4, 17, 3, generator=gen, dtype=torch.float64) * 0.3


def test_pa_mpjpe_is_zero_for_similar_copy(skeletons):
    gen = torch.Generator().manual_seed(1)
    moved = torch.stack([2.5 * p @ _random_rotation(gen).T + torch.tensor([1.0, -2.0, 3.0]) for p in skeletons])
    err = metrics.pa_mpjpe(moved, skeletons)
    assert err.shape == (4,)
    assert torch.all(err < 1e-9)
    assert torch.all(metrics.mpjpe(moved, skeletons, rescale=False) > 0.1)


def test_procrustes_does_not_reflect(skeletons):
    mirrored = skeletons * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    assert torch.all(metrics.pa_mpjpe(mirrored, skeletons) > 1e-3)


def test_pa_mpjpe_respects_mask(skeletons):
    pred = skeletons.clone()
    pred[:, 3] += 10.0
    mask = torch.ones(4, 17, dtype=torch.bool)
    mask[:, 3] = False
    assert torch.all(metrics.pa_mpjpe(pred, skeletons, mask) < 1e-9)


def test_mpjpe_known_offset_without_root_motion(skeletons):
    pred = skeletons.clone()
    offset = torch.tensor([0.03, 0.0, 0.04], dtype=torch.float64)  # 5 cm on one non-root joint
    pred[:, 0] += offset
    err = metrics.mpjpe(pred, skeletons, rescale=False)
    assert torch.allclose(err, torch.full((4,), 0.05 / 17, dtype=torch.float64))


def test_mpjpe_translation_invariant_and_scale_invariant_with_rescale(skeletons):
    pred = 7.0 * skeletons + torch.tensor([5.0, 1.0, -2.0], dtype=torch.float64)
    assert torch.all(metrics.mpjpe(pred, skeletons) < 1e-9)
    assert torch.all(metrics.mpjpe(pred, skeletons, rescale=False) > 0.1)


def test_mpjpe_rescales_to_average_skeleton(skeletons):
    avg = skeletons[0] * 0.5
    err = metrics.mpjpe(skeletons[:1] * 3.0, skeletons[:1] * 0.5, reference_skeleton=avg)
    assert err.item() < 1e-9


def test_mpjpe_empty_mask_gives_nan(skeletons):
    mask = torch.zeros(4, 17)
    mask[1:] = 1
    err = metrics.mpjpe(skeletons + 0.1, skeletons, mask)
    assert math.isnan(err[0].item()) and torch.all(torch.isfinite(err[1:]))


def test_per_pixel_error_masks_padding():
    pred = torch.zeros(2, 3, 2)
    gt = torch.tensor([[[3.0, 4.0], [0, 0], [100, 100]], [[0, 0], [0, 0], [6, 8]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    err = metrics.mean_per_pixel_error(pred, gt, mask)
    assert torch.allclose(err, torch.tensor([2.5, 10.0 / 3]))


def test_pa_mpve_and_numpy_wrappers(skeletons):
    gen = torch.Generator().manual_seed(3)
    verts = torch.randn(2, 500, 3, generator=gen, dtype=torch.float64)
    moved = torch.stack([0.3 * v @ _random_rotation(gen).T for v in verts])
    assert torch.all(metrics.pa_mpve(moved, verts) < 1e-9)
    noisy = verts.numpy() + np.array([0.0, 0.0, 0.002])  # pure translation: PA removes it
    assert metrics.pa_mpve_mm(noisy, verts.numpy()) < 1e-6
    off = skeletons.numpy().copy()
    off[:, 0, 0] += 0.017
    assert metrics.mpjpe_mm(off, skeletons.numpy(), rescale=False) == pytest.approx(1.0)
    assert metrics.mean_per_pixel_error_px(np.zeros((1, 2, 2)), np.full((1, 2, 2), 3.0)) == pytest.approx(
        3 * math.sqrt(2)
    )


def test_bad_shapes_raise(skeletons):
    with pytest.raises(ValueError, match="shape"):
        metrics.mpjpe(skeletons, skeletons[:, :5])
    with pytest.raises(ValueError, match="mask"):
        metrics.pa_mpjpe(skeletons, skeletons, torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"\(B, N, 2\)"):
        metrics.mean_per_pixel_error(skeletons, skeletons)
