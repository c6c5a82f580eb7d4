"""The body regressor: output shapes and valid rotations, settings, checkpoints, and that training learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deformlearn.core.body.camera import frontal_rotation, weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import axis_angle_to_rotmat
from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.regressor.backbones import find_imagenet_weights
from deformlearn.core.regressor.data import RegressorSamples, crop_square, crops_to_input, splat_iuv
from deformlearn.core.regressor.inputs import RegressorInputs
from deformlearn.core.regressor.network import (
    OUTPUT_SIZE,
    BodyRegressor,
    RegressorConfig,
    decode_raw,
    params_to_raw,
)
from deformlearn.core.regressor.training import (
    RegressorTrainingSettings,
    load_regressor,
    predict,
    regressor_losses,
    save_regressor,
    train_regressor,
)
from tests.tiny_template import make_tiny_template


def _synthetic_samples(n: int = 12, size: int = 32, seed: int = 0) -> RegressorSamples:
    """People whose IUV crop is a splat of their own projected template points (so the input determines them)."""
    g = torch.Generator().manual_seed(seed)
    template = make_tiny_template()
    body = BodyModel(template)
    pose = 0.3 * torch.randn(n, 23, 3, generator=g)
    scales = 1 + 0.05 * torch.randn(n, 24, generator=g)
    yaw = torch.zeros(n, 3)
    yaw[:, 1] = 0.5 * torch.randn(n, generator=g)
    rotation = frontal_rotation(n) @ axis_angle_to_rotmat(yaw)
    cam_scale = 0.9 + 0.1 * torch.rand(n, generator=g)
    translation = 0.05 * torch.randn(n, 2, generator=g)
    V = template.num_vertices
    vertex_index = torch.stack([torch.randperm(V, generator=g)[:60] for _ in range(n)])
    with torch.no_grad():
        out = body(pose, scales, vertex_index)
        points, _ = weak_perspective_project(out.vertices, rotation, cam_scale, translation)
        kp, kp_depth = weak_perspective_project(out.keypoints, rotation, cam_scale, translation)
    parts = torch.as_tensor(template.vertex_part)[vertex_index].numpy()
    uv = torch.as_tensor(template.vertex_uv)[vertex_index].numpy()
    iuv = np.stack([splat_iuv(points[i].numpy(), parts[i], uv[i], size) for i in range(n)])
    iuv_t = torch.from_numpy(iuv).permute(0, 3, 1, 2).contiguous()
    return RegressorSamples(
        person_ids=torch.arange(n), rgb=iuv_t.clone(), iuv=iuv_t, points=points, vertex_index=vertex_index,
        point_part=torch.from_numpy(parts), point_uv=torch.from_numpy(uv).float(),
        point_mask=torch.ones(n, 60, dtype=torch.bool), keypoints=kp,
        keypoint_visible=torch.ones(n, 17, dtype=torch.bool), pose=pose, scales=scales, rotation=rotation,
        cam_scale=cam_scale, translation=translation, keypoint_depths=kp_depth,
    )


def _inputs(images: torch.Tensor | None, n: int = 3) -> RegressorInputs:
    s = _synthetic_samples(n)
    return RegressorInputs(s.points, s.point_part, s.point_uv, s.point_mask, s.keypoints, s.keypoint_visible, images)


@pytest.mark.parametrize("arch,mode,channels", [("convnet", "rgb", 3), ("convnet", "iuv", 26), ("convnet", "rgb+iuv", 29),
                                                ("nbf", "iuv", 0), ("decomr", "iuv", 0), ("pointset", "iuv", 0),
                                                ("partwise", "iuv", 0)])
def test_output_shapes_and_valid_rotations(arch, mode, channels):
    torch.manual_seed(0)
    model = BodyRegressor(RegressorConfig(architecture=arch, backbone="small", input_mode=mode, crop_size=32))
    with torch.no_grad():
        model.head[-1].weight.normal_(std=0.1)  # make the outputs far from the identity bias
        out = model(_inputs(torch.rand(3, channels, 32, 32) if channels else None))
    assert out.raw.shape == (3, OUTPUT_SIZE)
    assert out.quaternions.shape == (3, 23, 4) and out.pose.shape == (3, 23, 3)
    assert torch.allclose(out.quaternions.norm(dim=-1), torch.ones(3, 23), atol=1e-5)
    assert out.scales.shape == (3, 24) and (out.scales > 0).all()
    R = out.rotation
    assert torch.allclose(R.transpose(1, 2) @ R, torch.eye(3).expand(3, 3, 3), atol=1e-4)
    assert out.cam_scale.shape == (3,) and (out.cam_scale > 0).all() and out.translation.shape == (3, 2)


def test_wrong_input_channels_is_a_clear_error():
    model = BodyRegressor(RegressorConfig(backbone="small", input_mode="rgb+iuv", crop_size=32))
    with pytest.raises(ValueError, match=r"\(B, 29, H, W\) images, got \(1, 3, 32, 32\)"):
        model(_inputs(torch.rand(1, 3, 32, 32), 1))
    with pytest.raises(ValueError, match=r"expects \(B, 29, H, W\) images, got None"):
        model(_inputs(None, 1))
    with pytest.raises(ValueError, match="backbone"):
        RegressorConfig(backbone="vgg")
    with pytest.raises(ValueError, match="architecture 'hmr'"):
        RegressorConfig(architecture="hmr")
    with pytest.raises(ValueError, match=r"RegressorInputs.part: expected shape \(B=2, N=60\), got \(2, 59\)"):
        s = _synthetic_samples(2)
        RegressorInputs(s.points, s.point_part[:, 1:], s.point_uv, s.point_mask, s.keypoints, s.keypoint_visible)


def test_resnet_backbone_without_weights_warns_and_builds(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert find_imagenet_weights("resnet18", None) is None
    with pytest.warns(UserWarning, match="random initialisation"):
        model = BodyRegressor(RegressorConfig(backbone="resnet18", input_mode="rgb+iuv", crop_size=64))
    with torch.no_grad():
        assert model(_inputs(torch.rand(2, 29, 64, 64), 2)).pose.shape == (2, 23, 3)
    with pytest.raises(FileNotFoundError, match="not found"):
        find_imagenet_weights("resnet18", str(tmp_path / "missing.pth"))


def test_params_round_trip_through_raw_layout():
    s = _synthetic_samples(4)
    raw = params_to_raw(s.pose, s.scales, s.rotation, s.cam_scale, s.translation)
    out = decode_raw(raw)
    assert torch.allclose(axis_angle_to_rotmat(out.pose), axis_angle_to_rotmat(s.pose), atol=1e-5)
    assert torch.allclose(out.scales, s.scales, atol=1e-5)
    assert torch.allclose(out.rotation, s.rotation, atol=1e-5)
    assert torch.allclose(out.cam_scale, s.cam_scale, atol=1e-5)


def test_losses_vanish_at_the_registered_parameters():
    s = _synthetic_samples(4)
    template = make_tiny_template()
    out = decode_raw(params_to_raw(s.pose, s.scales, s.rotation, s.cam_scale, s.translation))
    losses = regressor_losses(out, s, BodyModel(template), RegressorTrainingSettings())
    for name in ("regress", "dense", "kp", "total"):
        assert float(losses[name]) < 1e-8, name


def test_crop_square_maps_the_box_to_the_crop():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 255  # a 20 px square centred at (100, 50) (pixel centres 90..109)
    crop = crop_square(image, np.array([99.5, 49.5]), 20.0, 40)
    assert crop.shape == (40, 40, 3)
    assert crop[20, 20, 0] == 255 and crop[2, 2, 0] == 0
    on = np.argwhere(crop[..., 0] > 127)
    assert on.min() >= 9 and on.max() <= 30  # the square covers the middle half of the crop
    x = crops_to_input(torch.from_numpy(crop[None]), None, "rgb")
    assert x.shape == (1, 3, 40, 40) and float(x.max()) == 1.0


def test_training_reduces_the_loss_and_resumes_from_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    samples = _synthetic_samples(12)
    template = make_tiny_template()
    cfg = RegressorConfig(backbone="small", input_mode="iuv", crop_size=32)
    settings = RegressorTrainingSettings(model=cfg, epochs=8, batch_size=6, lr=2e-3, checkpoint_every=4,
                                         progress_every=2, num_threads=1, augment=True)
    events = []
    full = train_regressor(samples, template, settings, progress=events.append)
    assert full.steps == 16
    first, last = full.history[0]["total"], full.history[-1]["total"]
    assert last < 0.7 * first, (first, last)
    assert events[-1].step == events[-1].total == 16 and events[-1].eta_s == pytest.approx(0, abs=1e-6)

    # Cancel after 5 steps, then resume from the checkpoint: the same final weights as the uninterrupted run.
    ckpt = tmp_path / "regressor.ckpt"
    seen, token = [], CancelToken()

    def cancel_after_three(e) -> None:
        seen.append(e.step)
        if len(seen) >= 3:
            token.cancel()

    with pytest.raises(Cancelled, match="regressor training at step 6 of 16"):
        train_regressor(samples, template, settings, checkpoint=ckpt, progress=cancel_after_three, cancel=token)
    assert seen == [2, 4, 6] and ckpt.is_file()
    torch.manual_seed(123)  # the resumed run must not depend on the global RNG state it finds
    resumed = train_regressor(samples, template, settings, checkpoint=ckpt)
    assert resumed.steps == 16
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)

    path = tmp_path / "model.pt"
    save_regressor(resumed.model, path)
    loaded = load_regressor(path)
    a, b = predict(resumed.model, samples), predict(loaded, samples)
    assert torch.allclose(a.raw, b.raw, atol=1e-6)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.pt: not a readable regressor file"):
        load_regressor(truncated)
    with pytest.raises(FileNotFoundError, match="regressor file not found"):
        load_regressor(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="other settings"):
        train_regressor(samples, template, settings.__class__(model=cfg, epochs=9, num_threads=1, augment=True), checkpoint=ckpt)


def test_warped_crops_and_moved_targets_agree():
    from deformlearn.core.regressor.augment import similarity_samples, warp_images

    s = _synthetic_samples(3, size=64)
    k, phi = torch.tensor([1 / 1.1, 1 / 0.9, 1.0]), torch.tensor([0.0, 0.4, -0.3])
    c = torch.tensor([[0.05, -0.08], [-0.02, 0.03], [0.0, 0.0]])
    flip = torch.tensor([False, True, True])
    images = torch.zeros(3, 1, 64, 64)
    images[:, 0, 40, 20] = 1.0  # a dot at pixel (x=20, y=40): normalised (-1 + 41/64, -1 + 81/64)
    out = warp_images(images, flip, k, phi, c)
    dot = torch.tensor([-1 + 41 / 64, -1 + 81 / 64])
    for b in range(3):
        row, col = divmod(int(out[b, 0].argmax()), 64)
        mirrored = dot * torch.tensor([-1.0 if flip[b] else 1.0, 1.0])
        rot = torch.tensor([[phi[b].cos(), -phi[b].sin()], [phi[b].sin(), phi[b].cos()]])
        expected = k[b] * rot @ mirrored + c[b]
        found = torch.tensor([-1 + (2 * col + 1) / 64, -1 + (2 * row + 1) / 64])
        assert torch.allclose(found, expected, atol=2.5 / 64), (b, found, expected)
    # the moved targets still explain the moved annotations exactly
    moved = similarity_samples(s, k, phi, c)
    raw = params_to_raw(moved.pose, moved.scales, moved.rotation, moved.cam_scale, moved.translation)
    losses = regressor_losses(decode_raw(raw), moved, BodyModel(make_tiny_template()), RegressorTrainingSettings())
    assert float(losses["dense"]) < 1e-8 and float(losses["kp"]) < 1e-8


def test_local_imagenet_weights_are_loaded_and_rgb_filters_kept(tmp_path):
    import warnings

    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18-local.pth"
    torch.save(reference.state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "random initialisation" warning when weights are given
        model = BodyRegressor(RegressorConfig(backbone="resnet18", input_mode="rgb+iuv", crop_size=64,
                                              pretrained_weights=str(path)))
    assert torch.equal(model.encoder.backbone.conv1.weight[:, :3], reference.conv1.weight)
    assert torch.equal(model.encoder.backbone.layer1[0].conv1.weight, reference.layer1[0].conv1.weight)


def test_cosine_learning_rate_falls_from_lr_to_zero():
    from deformlearn.core.regressor.training import _learning_rate

    cfg = RegressorConfig(backbone="small", input_mode="iuv", crop_size=32)
    decay = RegressorTrainingSettings(model=cfg, lr=1e-3, lr_decay=True)
    rates = [_learning_rate(decay, s, 100) for s in range(100)]
    assert rates[0] == pytest.approx(1e-3) and rates[50] == pytest.approx(5e-4)
    assert all(a > b for a, b in zip(rates, rates[1:])) and rates[-1] < 1e-6
    assert _learning_rate(RegressorTrainingSettings(model=cfg, lr=1e-3), 99, 100) == 1e-3
