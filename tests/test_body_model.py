"""BodyModel / core.body.skinning: rest pose, segment scales, subsets, top-k, reference skinning, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel, BodyOutput
from deformlearn.core.body.rotations import axis_angle_to_rotmat, gram_schmidt_rotation
from deformlearn.core.body.skinning import (
    factorised_constants,
    forward_kinematics,
    joint_transforms,
    kinematic_levels,
    skin_factorised,
    stack_joint_maps,
)
from deformlearn.core.body.template import builtin_template_path, load_builtin_template
from tests.tiny_template import make_tiny_template


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_template()


@pytest.fixture(scope="module")
def model(tiny):
    return BodyModel(tiny)


def _random_params(batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pose = 0.6 * torch.randn(batch, 23, 3, generator=g)
    scales = 0.7 + 0.6 * torch.rand(batch, 24, generator=g)
    return pose, scales


def _naive_forward(template, pose: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward kinematics joint by joint and skinning vertex-by-joint, straight from the definition."""
    J = torch.as_tensor(template.rest_joints, dtype=torch.float64)
    V = torch.as_tensor(template.rest_vertices, dtype=torch.float64)
    W = torch.as_tensor(template.skin_weights, dtype=torch.float64)
    R = axis_angle_to_rotmat(pose.double())
    s = scales.double()
    B = pose.shape[0]
    rots, pos = [torch.eye(3, dtype=torch.float64).expand(B, 3, 3)], [torch.zeros(B, 3, dtype=torch.float64)]
    for j in range(1, 24):
        p = int(template.parents[j])
        rots.append(rots[p] @ R[:, j - 1])
        pos.append(pos[p] + (rots[p] @ ((J[j] - J[p]) * s[:, p, None])[..., None])[..., 0])
    verts = torch.zeros(B, V.shape[0], 3, dtype=torch.float64)
    for j in range(24):
        posed = s[:, j, None, None] * (V - J[j]) @ rots[j].transpose(1, 2) + pos[j][:, None]
        verts += W[None, :, j, None] * posed
    return verts, torch.stack(pos, 1)


def test_rest_pose_reproduces_root_centred_rest_mesh(tiny, model) -> None:
    out = model.rest_output(batch=2)
    assert isinstance(out, BodyOutput)
    root = tiny.rest_joints[0]
    np.testing.assert_allclose(out.vertices[1].numpy(), tiny.rest_vertices - root, atol=1e-5)
    np.testing.assert_allclose(out.joints[0].numpy(), tiny.rest_joints - root, atol=1e-6)
    np.testing.assert_allclose(out.keypoints[0].numpy(), tiny.keypoint_weights @ (tiny.rest_vertices - root),
                               atol=1e-5)
    assert out.vertices.shape == (2, tiny.num_vertices, 3) and out.keypoints.shape == (2, 17, 3)


def test_matches_definition_written_out(tiny, model) -> None:
    pose, scales = _random_params(3)
    out = model(pose, scales)
    verts, joints = _naive_forward(tiny, pose, scales)
    torch.testing.assert_close(out.joints.double(), joints, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.vertices.double(), verts, atol=1e-5, rtol=0)
    kw = torch.as_tensor(tiny.keypoint_weights, dtype=torch.float64)
    torch.testing.assert_close(out.keypoints.double(), torch.einsum("kv,bvx->bkx", kw, verts), atol=1e-5, rtol=0)


def test_factorised_skinning_agrees_with_the_model(model) -> None:
    """The registration's skinning (`skin_factorised`, two starts per person, chunks of one person) poses the
    same vertices as `BodyModel.forward`."""
    pose, scales = _random_params(4, seed=3)
    index = torch.randint(0, model.num_vertices, (2, 50), generator=torch.Generator().manual_seed(0))
    rotations, joints = forward_kinematics(axis_angle_to_rotmat(pose), scales, model.rest_joints, model.levels)
    maps = stack_joint_maps(joint_transforms(rotations, joints, scales, model.rest_joints))  # rows 2b, 2b+1: person b
    weights_t, homogeneous_t = factorised_constants(model.rest_vertices[index], model.skin_weights[index])
    out = skin_factorised(maps, weights_t, homogeneous_t, starts=2, chunk=1)
    assert out.shape == (4, 3, 50)
    ref = model(pose, scales).vertices
    for row in range(4):
        torch.testing.assert_close(out[row].T, ref[row, index[row // 2]], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"maps: expected shape \(4, 3, 96\)"):
        skin_factorised(maps[:3], weights_t, homogeneous_t, starts=2)


@pytest.mark.parametrize("segment", [0, 3, 4, 9, 16, 18])
def test_scaling_a_segment_scales_its_bones_only(tiny, model, segment) -> None:
    pose, _ = _random_params(1, seed=segment)
    scales = torch.ones(1, 24)
    base = model(pose, scales).joints[0]
    scales[0, segment] = 1.7
    scaled = model(pose, scales).joints[0]
    for c in range(1, 24):
        p = int(tiny.parents[c])
        rest_len = np.linalg.norm(tiny.rest_joints[c] - tiny.rest_joints[p])
        before = (base[c] - base[p]).norm().item()
        after = (scaled[c] - scaled[p]).norm().item()
        assert before == pytest.approx(rest_len, abs=1e-5)  # bones keep their length under any pose
        assert after == pytest.approx(rest_len * (1.7 if p == segment else 1.0), abs=1e-5)


def test_segment_scale_scales_its_rigid_geometry(tiny, model) -> None:
    segment = 18  # left elbow: the lower arm tube
    rigid = np.flatnonzero(tiny.skin_weights[:, segment] == 1.0)
    assert len(rigid) >= 4
    scales = torch.ones(1, 24)
    scales[0, segment] = 1.5
    pose, _ = _random_params(1, seed=5)
    v0 = model(pose, torch.ones(1, 24)).vertices[0, rigid]
    v1 = model(pose, scales).vertices[0, rigid]
    torch.testing.assert_close(torch.cdist(v1, v1), 1.5 * torch.cdist(v0, v0), atol=1e-5, rtol=0)


def test_joint_rotation_moves_child_about_the_joint(tiny, model) -> None:
    pose = torch.zeros(1, 23, 3)
    pose[0, 18 - 1] = torch.tensor([0.0, 0.0, math.pi / 2])  # left elbow, 90 degrees about +z
    joints = model(pose, torch.ones(1, 24)).joints[0].numpy()
    rest = tiny.rest_joints - tiny.rest_joints[0]
    forearm = rest[20] - rest[18]
    expected = rest[18] + np.array([-forearm[1], forearm[0], forearm[2]])
    np.testing.assert_allclose(joints[20], expected, atol=1e-5)
    np.testing.assert_allclose(joints[:20], rest[:20], atol=1e-6)  # nothing above the elbow moved


def test_subset_equals_full_gathered_and_cache_follows_the_index(model) -> None:
    pose, scales = _random_params(4, seed=1)
    full = model(pose, scales).vertices
    g = torch.Generator().manual_seed(2)
    index = torch.randint(0, model.num_vertices, (4, 37), generator=g)
    gathered = torch.gather(full, 1, index[..., None].expand(-1, -1, 3))
    torch.testing.assert_close(model(pose, scales, index).vertices, gathered, atol=1e-6, rtol=0)
    torch.testing.assert_close(model(pose, scales, index).vertices, gathered, atol=1e-6, rtol=0)  # cached
    index[:, :5] = 0  # an in-place edit must not reuse the stale cached basis
    gathered = torch.gather(full, 1, index[..., None].expand(-1, -1, 3))
    torch.testing.assert_close(model(pose, scales, index).vertices, gathered, atol=1e-6, rtol=0)


def test_topk_weights_close_to_exact_on_tiny(tiny) -> None:
    pose, scales = _random_params(2, seed=4)
    exact = BodyModel(tiny)(pose, scales).vertices
    torch.testing.assert_close(BodyModel(tiny, topk=3)(pose, scales).vertices, exact, atol=1e-6, rtol=0)
    two = BodyModel(tiny, topk=2)(pose, scales).vertices
    assert 0 < (two - exact).norm(dim=-1).max() < 0.1


@pytest.mark.skipif(not builtin_template_path().is_file(), reason="resources/template_builtin.npz not built yet")
def test_topk4_close_to_exact_on_builtin() -> None:
    template = load_builtin_template()
    pose, scales = _random_params(2, seed=6)
    pose = pose * 0.5
    exact = BodyModel(template)(pose, scales).vertices
    top4 = BodyModel(template, topk=4)(pose, scales).vertices
    err = (top4 - exact).norm(dim=-1)
    assert err.mean() < 2e-3 and err.max() < 3e-2  # metres


def _camera_loss(model, pose, scales, index, r9, cam_scale, cam_t) -> torch.Tensor:
    out = model(pose, scales, index)
    R = gram_schmidt_rotation(r9)
    x, depth = weak_perspective_project(out.vertices, R, cam_scale, cam_t)
    k, _ = weak_perspective_project(out.keypoints, R, cam_scale, cam_t)
    target = torch.linspace(-1, 1, x.numel()).reshape(x.shape)
    return ((x - target) ** 2).sum() + (k ** 2).sum() + depth.mean() + torch.exp(-torch.linalg.det(R)).sum()


@pytest.mark.parametrize("start", ["t-pose", "random"])
def test_gradients_reach_every_parameter_and_are_finite(model, start) -> None:
    B = 3
    pose, scales = model.neutral_parameters(B) if start == "t-pose" else _random_params(B, seed=7)
    pose, scales = pose.clone().requires_grad_(True), scales.clone().requires_grad_(True)
    r9 = (torch.eye(3).reshape(1, 9).repeat(B, 1) + 0.1 * torch.randn(B, 9)).requires_grad_(True)
    cam_scale = torch.full((B,), 2.0, requires_grad=True)
    cam_t = torch.zeros(B, 2, requires_grad=True)
    index = torch.randint(0, model.num_vertices, (B, 50))
    _camera_loss(model, pose, scales, index, r9, cam_scale, cam_t).backward()
    for name, p in {"pose": pose, "scales": scales, "R9": r9, "s": cam_scale, "t": cam_t}.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert (p.grad.reshape(B, -1).abs().sum(-1) > 0).all(), name  # every image gets a gradient
    # Over all vertices, every joint's rotation and every segment's scale moves something.
    pose.grad = scales.grad = None
    out = model(pose, scales)
    (out.vertices * torch.randn_like(out.vertices)).sum().backward()
    assert (pose.grad.abs().sum(-1) > 0).all() and (scales.grad.abs() > 0).all()


def test_float64_and_shape_errors(tiny) -> None:
    m = BodyModel(tiny).double()
    pose, scales = m.neutral_parameters(2)
    assert pose.dtype == torch.float64 and m(pose, scales).vertices.dtype == torch.float64
    with pytest.raises(ValueError, match="pose"):
        m(torch.zeros(2, 24, 3, dtype=torch.float64), scales)
    with pytest.raises(ValueError, match="scales"):
        m(pose, scales[:, :23])
    with pytest.raises(ValueError, match="vertex_index"):
        m(pose, scales, torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="vertex_index"):
        m(pose, scales, torch.full((2, 5), tiny.num_vertices))
    with pytest.raises(ValueError, match="topk"):
        BodyModel(tiny, topk=0)


def test_gradcheck_pose_and_scales(tiny) -> None:
    m = BodyModel(tiny).double()
    pose, scales = _random_params(1, seed=8)
    pose, scales = pose.double().requires_grad_(True), scales.double().requires_grad_(True)
    index = torch.tensor([[0, 50, 100, 200, 300]])

    def f(p, s):
        out = m(p, s, index)
        return out.vertices, out.joints, out.keypoints

    assert torch.autograd.gradcheck(f, (pose, scales), eps=1e-6, atol=1e-5)


def test_forward_kinematics_on_a_tree_not_in_level_order() -> None:
    from deformlearn.core.body.skinning import forward_kinematics

    parents = np.array([-1, 0, 1, 0, 3, 2, 2, 4])  # depth order 0 | 1 3 | 2 4 | 5 6 7
    levels = kinematic_levels(parents)
    assert not levels.in_level_order
    g = torch.Generator().manual_seed(9)
    rest = torch.randn(8, 3, generator=g, dtype=torch.float64)
    rel = axis_angle_to_rotmat(torch.randn(2, 7, 3, generator=g, dtype=torch.float64))
    scales = 0.5 + torch.rand(2, 8, generator=g, dtype=torch.float64)
    rotations, joints = forward_kinematics(rel, scales, rest, levels)
    rots, pos = [torch.eye(3, dtype=torch.float64).expand(2, 3, 3)], [torch.zeros(2, 3, dtype=torch.float64)]
    for j in range(1, 8):
        p = parents[j]
        rots.append(rots[p] @ rel[:, j - 1])
        pos.append(pos[p] + (rots[p] @ ((rest[j] - rest[p]) * scales[:, p, None])[..., None])[..., 0])
    torch.testing.assert_close(rotations, torch.stack(rots, 1))
    torch.testing.assert_close(joints, torch.stack(pos, 1))
