"""Regressor architectures and augmentation: every architecture learns, flips mirror inputs and targets
alike, and prediction runs on sparse and dense inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.regressor.augment import (
    DENSEPOSE_PART_FLIP,
    augment_batch,
    draw_augmentation,
    flip_samples,
    mirror_iuv_channels,
    mirror_tables,
    similarity_samples,
    warp_images,
)
from deformlearn.core.regressor.data import RegressorSamples, crops_to_input, limit_points, splat_iuv
from deformlearn.core.regressor.encoders import ARCHITECTURES
from deformlearn.core.regressor.inputs import points_to_part_image, points_to_uv_location_map
from deformlearn.core.regressor.network import RegressorConfig, decode_raw, params_to_raw
from deformlearn.core.regressor.training import (
    RegressorTrainingSettings,
    load_regressor,
    predict,
    regressor_losses,
    save_regressor,
    train_regressor,
)
from tests.test_regressor import _synthetic_samples
from tests.tiny_template import make_tiny_template

FULL_AUGMENT = dict(augment=True, augment_rotation=0.3, augment_flip=0.5, augment_dropout=0.6, augment_partial=0.3,
                    augment_uv_noise=0.02)


def _losses_at_targets(samples: RegressorSamples) -> dict[str, float]:
    raw = params_to_raw(samples.pose, samples.scales, samples.rotation, samples.cam_scale, samples.translation)
    losses = regressor_losses(decode_raw(raw), samples, BodyModel(make_tiny_template()), RegressorTrainingSettings())
    return {k: float(v) for k, v in losses.items()}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_architecture_trains_with_full_augmentation_and_its_loss_falls(architecture):
    torch.manual_seed(0)
    samples = _synthetic_samples(12)
    cfg = RegressorConfig(architecture=architecture, backbone="small", input_mode="iuv", crop_size=32, uv_grid=8)
    settings = RegressorTrainingSettings(model=cfg, epochs=8, batch_size=6, lr=2e-3, progress_every=2, num_threads=1,
                                         **FULL_AUGMENT)
    result = train_regressor(samples, make_tiny_template(), settings)
    first, last = result.history[0]["total"], result.history[-1]["total"]
    assert last < 0.7 * first, (architecture, first, last)


def test_flipped_labels_are_the_mirrored_targets():
    template = make_tiny_template()
    tables = mirror_tables(template)
    s = _synthetic_samples(6)
    flip = torch.tensor([True, False, True, True, False, True])
    flipped = flip_samples(s, flip, tables)
    # the mirrored parameters project onto the mirrored annotations (the tiny template's keypoints are
    # symmetric to about a centimetre, its vertices exactly)
    losses = _losses_at_targets(flipped)
    assert losses["dense"] < 1e-5 and losses["kp"] < 1e-3, losses
    assert not torch.allclose(flipped.points[0], s.points[0]) and torch.equal(flipped.points[1], s.points[1])
    part_flip = torch.tensor(DENSEPOSE_PART_FLIP)
    assert torch.equal(flipped.point_part[flip], part_flip[s.point_part[flip]])
    # flipping twice gives the person back
    twice = flip_samples(flipped, flip, tables)
    for name in ("points", "keypoints", "pose", "scales", "rotation", "translation"):
        assert torch.allclose(getattr(twice, name), getattr(s, name), atol=1e-6), name
    rest = torch.as_tensor(template.rest_vertices)  # coincident copies of a vertex may swap: compare positions
    assert torch.allclose(rest[twice.vertex_index], rest[s.vertex_index], atol=1e-6)
    # with rotation, scale and shift on top, targets still explain the annotations
    n = len(s)
    moved = similarity_samples(flipped, torch.full((n,), 1.1), torch.full((n,), 0.3), torch.full((n, 2), 0.05))
    losses = _losses_at_targets(moved)
    assert losses["dense"] < 1e-5 and losses["kp"] < 2e-3, losses


def test_a_flipped_iuv_crop_is_the_crop_of_the_flipped_person():
    template = make_tiny_template()
    tables = mirror_tables(template)
    s = _synthetic_samples(3, size=64)
    flip = torch.ones(3, dtype=torch.bool)
    ones = torch.ones(3)
    crops = crops_to_input(None, s.iuv, "iuv")
    flipped = mirror_iuv_channels(warp_images(crops, flip, ones, 0 * ones, torch.zeros(3, 2)), tables)
    f = flip_samples(s, flip, tables)
    expected = np.stack([splat_iuv(f.points[i].numpy(), f.point_part[i].numpy(), f.point_uv[i].numpy(), 64)
                         for i in range(3)])
    expected = crops_to_input(None, torch.from_numpy(expected).permute(0, 3, 1, 2), "iuv")
    on = expected[:, :24].sum(1) > 0.5
    same_part = (flipped[:, :24].argmax(1) == expected[:, :24].argmax(1)) & on
    assert float(same_part.sum()) > 0.9 * float(on.sum())
    uv_error = (flipped[:, 24:] - expected[:, 24:]).abs().amax(1)[same_part]
    assert float(uv_error.median()) < 0.05


def test_augmented_inputs_drop_points_but_the_losses_keep_them():
    s = _synthetic_samples(8)
    settings = RegressorTrainingSettings(**FULL_AUGMENT)
    aug = draw_augmentation(8, s.points.shape[1], settings, step=3)
    inputs, moved = augment_batch(s, None, aug, mirror_tables(make_tiny_template()), None, max_points=40)
    assert torch.equal(moved.point_mask, s.point_mask)
    assert (inputs.point_mask.sum(1) <= 40).all() and bool((inputs.point_mask.sum(1) < 40).any())
    assert float(inputs.uv.min()) >= 0 and float(inputs.uv.max()) <= 1
    assert torch.equal(aug.flip, draw_augmentation(8, s.points.shape[1], settings, step=3).flip)  # resumable
    losses = _losses_at_targets(moved)
    assert losses["dense"] < 1e-5 and losses["kp"] < 2e-3, losses


def test_point_images_and_location_maps_put_points_where_they_belong():
    points = torch.tensor([[[0.0, 0.0], [-0.99, 0.99], [2.0, 0.0]]])
    part = torch.tensor([[3, 24, 5]])
    uv = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    image = points_to_part_image(points, part, mask, 32, radius=0)
    assert image.shape == (1, 24, 32, 32) and float(image.sum()) == 2  # the third point is outside the crop
    assert image[0, 2, 16, 16] == 1 and image[0, 23, 31, 0] == 1
    loc = points_to_uv_location_map(points, part, uv, mask, grid=4)
    assert loc.shape == (1, 3, 24, 16) and float(loc[0, 0].sum()) == 3
    assert loc[0, 0, 2 * 4 + 0, 0] == 1  # part 3: tile row 2, column 0; U = 0, V = 1 -> the tile's top left
    assert torch.allclose(loc[0, 1:, 5 * 4 + 3, 3 * 4 + 3], torch.tensor([-0.99, 0.99]))  # part 24, U = 1, V = 0
    assert float(loc[0, 0].sum()) == float((loc[0, 1:].abs().sum(0) > 0).sum()) + 1  # (0, 0) writes zeros


def test_limit_points_keeps_an_even_subset():
    mask = torch.ones(2, 100, dtype=torch.bool)
    mask[1, 30:] = False
    kept = limit_points(mask, 40)
    assert kept.sum(1).tolist() == [40, 30]
    assert torch.equal(kept, limit_points(mask, 40)) and bool((kept & ~mask).sum() == 0)


@pytest.mark.parametrize("architecture", ["nbf", "decomr", "pointset", "partwise"])
def test_prediction_runs_on_sparse_and_dense_points(architecture, tmp_path):
    template = make_tiny_template()
    body = BodyModel(template)
    s = _synthetic_samples(4)
    cfg = RegressorConfig(architecture=architecture, crop_size=32, uv_grid=8, max_points=300)
    model = train_regressor(s, template, RegressorTrainingSettings(model=cfg, epochs=1, batch_size=4, num_threads=1)).model
    path = tmp_path / "model.pt"
    save_regressor(model, path)
    model = load_regressor(path)
    V = template.num_vertices
    dense_index = torch.arange(V).repeat(4, 1)
    with torch.no_grad():
        out = body(s.pose, s.scales, dense_index)
    from deformlearn.core.body.camera import weak_perspective_project

    points, _ = weak_perspective_project(out.vertices, s.rotation, s.cam_scale, s.translation)
    part = torch.as_tensor(template.vertex_part)[dense_index]
    uv = torch.as_tensor(template.vertex_uv)[dense_index]
    dense = RegressorSamples(s.person_ids, None, None, points, dense_index, part, uv, torch.ones(4, V, dtype=torch.bool),
                             s.keypoints, s.keypoint_visible)
    sparse = dense.subset(torch.arange(4))
    sparse = RegressorSamples(**{**sparse.__dict__, "point_mask": torch.arange(V).repeat(4, 1) % 50 == 0})
    for samples in (dense, sparse):
        pred = predict(model, samples)
        assert pred.pose.shape == (4, 23, 3) and torch.isfinite(pred.raw).all()


def test_regressor_files_from_before_architectures_still_load(tmp_path):
    cfg = RegressorConfig(crop_size=32)
    model = train_regressor(_synthetic_samples(4), make_tiny_template(),
                            RegressorTrainingSettings(model=cfg, epochs=1, batch_size=4, num_threads=1)).model
    old_config = {k: v for k, v in cfg.__dict__.items() if k in ("backbone", "input_mode", "crop_size",
                                                                    "pretrained_weights")}
    old_state = {k.removeprefix("encoder."): v for k, v in model.state_dict().items()}
    torch.save({"config": old_config, "state": old_state}, tmp_path / "old.pt")
    loaded = load_regressor(tmp_path / "old.pt")
    s = _synthetic_samples(2)
    assert loaded.config.architecture == "convnet"
    assert torch.allclose(predict(loaded, s).raw, predict(model, s).raw, atol=1e-6)


def test_partwise_pools_each_coarse_part_over_its_own_points_only():
    from deformlearn.core.body.skeletons import FINE_TO_COARSE_PART
    from deformlearn.core.regressor.encoders import NUM_COARSE_PARTS, PartwiseEncoder
    from deformlearn.core.regressor.inputs import RegressorInputs

    torch.manual_seed(0)
    encoder = PartwiseEncoder(RegressorConfig(architecture="partwise", point_features=16), pretrained=False)
    B, N = 3, 40
    part = torch.randint(1, 25, (B, N))
    part[1] = 3  # the second person's points all on the right hand
    mask = torch.rand(B, N) > 0.3
    inputs = RegressorInputs(points=torch.rand(B, N, 2) * 2 - 1, part=part, uv=torch.rand(B, N, 2), point_mask=mask,
                             keypoints=torch.zeros(B, 17, 2), keypoint_visible=torch.zeros(B, 17, dtype=torch.bool))
    whole, parts = encoder.parts(inputs)
    assert torch.allclose(whole, encoder(inputs)) and parts.shape == (B, NUM_COARSE_PARTS, 33)
    h = encoder.point_features(inputs)
    coarse = torch.as_tensor(FINE_TO_COARSE_PART)[part] - 1
    for b in range(B):
        for c in range(NUM_COARSE_PARTS):
            inside = mask[b] & (coarse[b] == c)
            if not inside.any():
                assert torch.equal(parts[b, c], torch.zeros(33))
                continue
            assert torch.allclose(parts[b, c, :16], h[b, inside].amax(0))
            assert torch.allclose(parts[b, c, 16:32], h[b, inside].mean(0), atol=1e-6)
            assert torch.isclose(parts[b, c, 32], inside.sum() / mask[b].sum())
    assert parts[1, 1, 32] == 1.0  # right hand (coarse part 2) holds all of person 1's points
