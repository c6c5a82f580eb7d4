"""The keypoint-lifting cGAN: geometry, losses, networks, training, lift frame, save/load, evaluation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.lifting import losses as L
from deformlearn.core.lifting.cgan import (
    DepthGenerator,
    LiftingProgress,
    LiftingSettings,
    PoseDiscriminator,
    average_skeleton_from_template,
    lift,
    load_lifter,
    save_lifter,
    train_lifter,
)
from deformlearn.core.lifting.data import DEFAULT_AVERAGE_SKELETON, make_synthetic_skeletons, pose_keypoints, random_poses
from deformlearn.core.lifting.evaluation import evaluate_lifting, load_h36m_body3d

TINY = LiftingSettings(epochs=40, batch_size=128, learning_rate=1e-3, hidden=64, device="cpu", threads=1)


@pytest.fixture(scope="module")
def average() -> torch.Tensor:
    return torch.tensor(DEFAULT_AVERAGE_SKELETON, dtype=torch.float32)


@pytest.fixture(scope="module")
def trained():
    people = make_synthetic_skeletons(200, seed=1)
    return train_lifter(people.keypoints_2d, TINY, average_skeleton=DEFAULT_AVERAGE_SKELETON), people


def test_ratio_and_symmetry_losses_vanish_on_symmetric_average(average):
    vis = torch.ones(1, 17)
    assert L.ratio_loss(average[None], vis, average).item() < 1e-10
    assert L.symmetry_loss(average[None], vis).item() < 1e-10
    stretched = average.clone()[None]
    stretched[0, 9] += torch.tensor([0.2, 0.0, 0.0])  # left forearm 20 cm longer
    assert L.ratio_loss(stretched, vis, average).item() > 1e-3
    assert L.symmetry_loss(stretched, vis).item() == pytest.approx(0.2**2, rel=1e-4)
    vis_missing_wrist = vis.clone()
    vis_missing_wrist[0, 9] = 0
    assert L.symmetry_loss(stretched, vis_missing_wrist).item() < 1e-10


def test_losses_scale_invariance_and_facing(average):
    vis = torch.ones(1, 17)
    assert L.ratio_loss(3.0 * average[None], vis, average).item() < 1e-10
    cam = average[None] * torch.tensor([1.0, -1.0, -1.0])  # SMPL frame -> camera frame, facing the camera
    assert L.facing_loss(cam, vis).item() == 0.0
    assert L.facing_loss(cam * torch.tensor([1.0, 1.0, -1.0]), vis).item() > 0.5  # depth-mirrored body


def test_rotation_and_projection_shapes_and_geometry(average):
    pts = average[None].repeat(2, 1, 1)
    rotated = L.rotate_about_vertical(pts, torch.tensor([0.0, math.pi / 2]))
    assert rotated.shape == (2, 2, 17, 3)
    assert torch.allclose(rotated[:, 0], pts)
    assert torch.allclose(rotated[0, 1, :, 0], pts[0, :, 2], atol=1e-6)  # x' = z at 90 degrees
    assert torch.allclose(L.bone_lengths(rotated[:, 1]), L.bone_lengths(pts), atol=1e-6)
    views = L.project_views(pts, torch.ones(2, 17), (45, 60, 90, 135, 180, 235, 270))
    assert views.shape == (14, 51)


def test_normalisation_root_scale_and_missing_points():
    kp = torch.tensor(make_synthetic_skeletons(3, seed=5).keypoints_2d, dtype=torch.float32)
    kp[..., 2] = 1
    xy, vis, root, scale = L.normalise_keypoints(kp)
    assert torch.allclose(xy[:, [11, 12]].mean(1), torch.zeros(3, 2), atol=1e-5)
    assert torch.allclose((xy**2).sum((1, 2)) / 17, torch.ones(3), atol=1e-4)
    kp[0, 11, 2] = 0
    kp[0, 11, :2] = float("nan")
    xy, vis, _, _ = L.normalise_keypoints(kp)
    assert torch.isfinite(xy).all() and xy[0, 11].abs().sum() == 0


def test_networks_have_eight_linear_layers():
    for net in (DepthGenerator(hidden=32), PoseDiscriminator(hidden=32)):
        assert sum(isinstance(m, nn.Linear) for m in net.modules()) == 8
    assert DepthGenerator(hidden=32)(torch.zeros(4, 51)).shape == (4, 17)
    assert PoseDiscriminator(hidden=32)(torch.zeros(4, 51)).shape == (4, 1)


def test_posing_keeps_bone_lengths():
    rng = np.random.default_rng(0)
    rest = DEFAULT_AVERAGE_SKELETON[None]
    np.testing.assert_allclose(pose_keypoints(np.zeros((1, 24, 3)), np.ones((1, 12))),
                               rest - rest[:, [11, 12]].mean(1, keepdims=True), atol=1e-12)
    posed = pose_keypoints(random_poses(rng, 5), np.ones((5, 12)))
    limbs = [b for b in L.RATIO_BONES if b not in ((5, 11), (6, 12))]
    a, b = [x[0] for x in limbs], [x[1] for x in limbs]
    np.testing.assert_allclose(np.linalg.norm(posed[:, a] - posed[:, b], axis=-1),
                               np.repeat(np.linalg.norm(rest[:, a] - rest[:, b], axis=-1), 5, 0), atol=1e-9)


def test_training_reduces_geometric_losses_and_gives_finite_depths(trained):
    result, people = trained
    first, last = result.history[0], result.history[-1]
    assert len(result.history) == TINY.epochs
    assert last["ratio"] + last["symmetry"] < 0.8 * (first["ratio"] + first["symmetry"])
    z = lift(result, people.keypoints_2d)
    assert z.shape == (200, 17) and np.isfinite(z).all()


def test_lift_frame_units_and_types(trained):
    result, people = trained
    gen = result.generator()
    kp = people.keypoints_2d[:20].copy()
    z = lift(gen, kp)
    both_hips = (kp[:, [11, 12], 2] > 0).all(1)
    np.testing.assert_allclose(z[both_hips][:, [11, 12]].mean(1), 0.0, atol=1e-3)
    moved = kp.copy()
    moved[..., :2] = 2.0 * kp[..., :2] + np.array([50.0, -30.0])
    np.testing.assert_allclose(lift(gen, moved), 2.0 * z, rtol=1e-3, atol=1e-2)  # depth in input pixels
    zt = lift(gen, torch.tensor(kp, dtype=torch.float32))
    assert torch.is_tensor(zt) and zt.shape == (20, 17)
    hidden = kp.copy()
    hidden[:, 3, 2] = 0
    other = hidden.copy()
    other[:, 3, :2] = np.nan  # coordinates of invisible keypoints are never read
    np.testing.assert_allclose(lift(gen, hidden), lift(gen, other))


def test_save_load_round_trip(trained, tmp_path):
    result, people = trained
    path = tmp_path / "lifter.pt"
    save_lifter(result, path)
    loaded = load_lifter(path)
    np.testing.assert_allclose(lift(loaded, people.keypoints_2d), lift(result, people.keypoints_2d), atol=1e-6)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="bad.pt"):
        load_lifter(bad)


def test_progress_cancel_and_bad_input(average):
    people = make_synthetic_skeletons(64, seed=3)
    events: list[LiftingProgress] = []
    settings = dataclasses.replace(TINY, epochs=5, hidden=16)
    token = CancelToken()

    def record(e: LiftingProgress) -> None:
        events.append(e)
        if len(events) >= 3:
            token.cancel()

    with pytest.raises(Cancelled, match="lifting at step 3 of"):
        train_lifter(people.keypoints_2d, settings, average_skeleton=average, progress=record, cancel=token)
    with pytest.raises(TypeError, match="CancelToken"):
        train_lifter(people.keypoints_2d, settings, average_skeleton=average, cancel=lambda: True)
    assert [e.step for e in events] == [1, 2, 3] and events[0].stage == "lifting"
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].step = 9  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"\(B, 17, 3\)"):
        train_lifter(people.keypoints_2d[:, :5], settings, average_skeleton=average)
    with pytest.raises(ValueError, match="average_skeleton"):
        train_lifter(people.keypoints_2d, settings, average_skeleton=average[:5])


def test_joint_loss_pulls_depths_to_registered_joints(trained):
    result, people = trained
    f = people.pixels_per_metre[:, None]
    depth = people.joints3d_cam[..., 2] * f
    depth = depth - depth[:, [11, 12]].mean(1, keepdims=True)
    registered = np.concatenate([people.keypoints_2d[..., :2], depth[..., None]], -1)
    settings = dataclasses.replace(TINY, epochs=15)
    warm = train_lifter(people.keypoints_2d, settings, average_skeleton=DEFAULT_AVERAGE_SKELETON,
                        registered_joints3d=registered, generator_state=result.generator_state,
                        discriminator_state=result.discriminator_state)
    assert warm.history[0]["mu"] > warm.history[-1]["mu"] >= 1.0
    seen = people.keypoints_2d[..., 2] > 0
    before = np.abs(lift(result, people.keypoints_2d) - depth)[seen].mean()
    after = np.abs(lift(warm, people.keypoints_2d) - depth)[seen].mean()
    assert after < 0.75 * before


def test_average_skeleton_from_template():
    from tests.tiny_template import make_tiny_template

    template = make_tiny_template()
    avg = average_skeleton_from_template(template)
    assert avg.shape == (17, 3) and avg.dtype == np.float32
    assert avg[5, 0] > 0 > avg[6, 0] and avg[0, 1] > avg[11, 1]  # left is +x, head above hips (SMPL frame)


def test_h36m_evaluation_reports_a_number(trained, shared_data):
    result, _ = trained
    path = shared_data / "h36m" / "test_h36m_body3d.npz"
    frames = load_h36m_body3d(path)
    assert frames.keypoints_2d.shape == (4, 17, 3) and frames.score_mask.sum() == 4 * 12
    with np.load(path) as raw:
        np.testing.assert_allclose(frames.joints3d_cam[:, 11], raw["S"][:, 4, :3])  # COCO left hip = H36M 4
        np.testing.assert_allclose(frames.keypoints_2d[:, 10, :2], raw["part"][:, 16, :2])  # right wrist
    assert (frames.keypoints_2d[:, 1:5, 2] == 0).all()  # no eyes or ears in H36M
    ev = evaluate_lifting(result, frames.keypoints_2d, frames.joints3d_cam, frames.score_mask)
    assert ev.num_people == 4 and math.isfinite(ev.mpjpe_mm) and 0 < ev.mpjpe_mm < 2000
    assert math.isfinite(ev.pa_mpjpe_mm) and 0 < ev.pa_mpjpe_mm < 2000
