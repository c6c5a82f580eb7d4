"""L_3D, the regressor's 3D keypoint loss against the registered body: zero at the targets, weighted by delta."""

from __future__ import annotations

import pytest
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.regressor.network import decode_raw, params_to_raw
from deformlearn.core.regressor.training import RegressorTrainingSettings, regressor_losses
from tests.test_regressor import _synthetic_samples
from tests.tiny_template import make_tiny_template


def test_the_3d_joint_loss_is_zero_at_the_targets_and_counts_with_its_weight():
    samples = _synthetic_samples(4)
    body = BodyModel(make_tiny_template())
    raw = params_to_raw(samples.pose, samples.scales, samples.rotation, samples.cam_scale, samples.translation)
    at = regressor_losses(decode_raw(raw), samples, body, RegressorTrainingSettings(delta=10.0))
    assert float(at["joints3d"]) < 1e-4
    raw[:, :92] += 0.05 * torch.randn(4, 92)
    off = regressor_losses(decode_raw(raw), samples, body, RegressorTrainingSettings(delta=10.0))
    without = regressor_losses(decode_raw(raw), samples, body, RegressorTrainingSettings())
    assert float(off["joints3d"]) > 1e-3 and "joints3d" not in without
    assert float(off["total"]) == pytest.approx(float(without["total"]) + 10.0 * float(off["joints3d"]), rel=1e-4)
