"""Novel-view augmentation: re-posed fits explain their new points exactly, see only the visible surface,
fill the box, leave unchosen people alone and draw reproducibly; training with it learns."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from deformlearn.core.body.camera import frontal_rotation, weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import axis_angle_to_rotmat
from deformlearn.core.body.template import load_builtin_template
from deformlearn.core.regressor.network import RegressorConfig
from deformlearn.core.regressor.training import RegressorTrainingSettings, train_regressor
from deformlearn.core.regressor.views import (
    SurfaceCache,
    ViewDraws,
    body_surface,
    box_camera,
    draw_views,
    novel_views,
    view_tables,
    visible_vertices,
)
from tests.test_regressor import _synthetic_samples
from tests.tiny_template import make_tiny_template


def _draws(settings: RegressorTrainingSettings, n: int, num_points: int, num_vertices: int, **fixed) -> ViewDraws:
    draws = draw_views(n, num_points, num_vertices, settings, step=3)
    return replace(draws, **{k: torch.as_tensor(v).expand_as(getattr(draws, k)).clone() for k, v in fixed.items()})


def test_new_points_are_the_projections_of_their_vertices_under_the_new_camera():
    template = make_tiny_template()
    body, tables = BodyModel(template), view_tables(template)
    samples = _synthetic_samples(6)
    settings = RegressorTrainingSettings(novel_views=1.0, view_points=10)
    draws = draw_views(6, samples.points.shape[1], template.num_vertices, settings, step=0)
    moved = novel_views(samples, body, draws, tables)
    out = body(moved.pose, moved.scales, moved.vertex_index)
    xy, _ = weak_perspective_project(out.vertices, moved.rotation, moved.cam_scale, moved.translation)
    m = moved.point_mask
    assert torch.allclose((xy + draws.noise)[m], moved.points[m], atol=1e-5)
    kp, depth = weak_perspective_project(out.keypoints, moved.rotation, moved.cam_scale, moved.translation)
    assert torch.allclose(kp, moved.keypoints, atol=1e-5) and torch.allclose(depth, moved.keypoint_depths, atol=1e-5)
    # the new camera is a rotation, and the body's box fills [-1, 1] along its longer side
    eye = torch.eye(3).expand(6, 3, 3)
    assert torch.allclose(moved.rotation @ moved.rotation.transpose(1, 2), eye, atol=1e-5)
    full = body(moved.pose, moved.scales).vertices
    all_xy, _ = weak_perspective_project(full, moved.rotation, moved.cam_scale, moved.translation)
    side = (all_xy.amax(1) - all_xy.amin(1)).amax(1)
    assert torch.allclose(side, torch.full((6,), 2.0), atol=1e-4)
    assert torch.allclose(all_xy.amax(1) + all_xy.amin(1), torch.zeros(6, 2), atol=1e-4)
    counts = m.sum(1)
    assert bool((counts >= 1).all()) and bool((counts <= draws.count).all())


def test_novel_poses_move_the_targets_and_the_points_with_the_new_pose():
    template = make_tiny_template()
    body, tables = BodyModel(template), view_tables(template)
    samples = _synthetic_samples(6)
    settings = RegressorTrainingSettings(novel_views=1.0, novel_poses=1.0, view_pose=0.3, view_points=10)
    draws = draw_views(6, samples.points.shape[1], template.num_vertices, settings, step=0)
    cache = SurfaceCache(body, samples, tables).get(torch.arange(6))  # the old pose's surface: not used
    moved = novel_views(samples, body, draws, tables, cache)
    assert torch.allclose(moved.pose, samples.pose + draws.pose_noise)
    assert float(draws.pose_noise.std()) == pytest.approx(0.3, rel=0.2)
    out = body(moved.pose, moved.scales, moved.vertex_index)
    xy, _ = weak_perspective_project(out.vertices, moved.rotation, moved.cam_scale, moved.translation)
    m = moved.point_mask
    assert torch.allclose((xy + draws.noise)[m], moved.points[m], atol=1e-5)
    kp, _ = weak_perspective_project(out.keypoints, moved.rotation, moved.cam_scale, moved.translation)
    assert torch.allclose(kp, moved.keypoints, atol=1e-5)
    kept = draw_views(6, samples.points.shape[1], template.num_vertices, replace(settings, novel_poses=0.0), step=0)
    assert not bool(kept.pose_noise.any())
    assert torch.equal(novel_views(samples, body, kept, tables, cache).pose, samples.pose)


def test_a_person_facing_the_camera_shows_the_front_of_the_torso_and_turned_round_the_back():
    template = load_builtin_template()
    body, tables = BodyModel(template), view_tables(template)
    pose, scales = body.neutral_parameters(2)
    vertices, normals = body_surface(body, pose, scales, tables)
    turn = torch.zeros(2, 3)
    turn[1, 1] = math.pi
    rotation = frontal_rotation(2) @ axis_angle_to_rotmat(turn)
    projected, _ = weak_perspective_project(vertices, rotation, torch.ones(2), torch.zeros(2, 2))
    scale, translation = box_camera(projected)
    xy, depth = weak_perspective_project(vertices, rotation, scale, translation)
    facing = (normals @ rotation.transpose(1, 2))[..., 2] < -0.1
    visible = visible_vertices(xy, depth, facing, 0.05 * scale)
    part = tables.vertex_part
    front, back = 2, 1  # DensePose: torso back is part 1, front part 2 (the back's chart wraps round the sides)
    seen = [[int((visible[i] & (part == k)).sum()) for k in (front, back)] for i in range(2)]
    assert seen[0][0] > 10 * seen[0][1] and seen[1][1] > 10 * seen[1][0], seen
    # the points drawn from the visible ones spread over many parts, not only the big torso
    n, N = 2, 200
    samples = replace(_synthetic_samples(n), pose=pose, scales=scales, rotation=frontal_rotation(n),
                      points=torch.zeros(n, N, 2), vertex_index=torch.zeros(n, N, dtype=torch.long),
                      point_part=torch.ones(n, N, dtype=torch.long), point_uv=torch.zeros(n, N, 2),
                      point_mask=torch.ones(n, N, dtype=torch.bool))
    settings = RegressorTrainingSettings(novel_views=1.0, view_points=N)
    draws = _draws(settings, n, N, template.num_vertices, chosen=True, pitch=0.0, roll=0.0, yaw=0.0, count=N)
    moved = novel_views(samples, body, draws, tables)
    assert len(torch.unique(moved.point_part[0][moved.point_mask[0]])) >= 20


def test_the_z_buffer_hides_what_lies_behind_a_nearer_surface():
    xy = torch.tensor([[[0.10, 0.10], [0.11, 0.11], [0.12, 0.10], [-0.5, 0.5], [0.105, 0.1]]])
    depth = torch.tensor([[0.0, 0.02, 0.5, 0.9, -1.0]])
    facing = torch.tensor([[True, True, True, True, False]])  # the nearest one faces away: it hides nothing
    visible = visible_vertices(xy, depth, facing, torch.tensor([0.05]))
    assert visible.tolist() == [[True, True, False, True, False]]


def test_unchosen_people_are_untouched_and_draws_repeat():
    template = make_tiny_template()
    body, tables = BodyModel(template), view_tables(template)
    samples = _synthetic_samples(4)
    settings = RegressorTrainingSettings(novel_views=0.5)
    a = draw_views(4, 60, template.num_vertices, settings, step=5)
    b = draw_views(4, 60, template.num_vertices, settings, step=5)
    assert all(torch.equal(x, y) for x, y in zip(a.__dict__.values(), b.__dict__.values()))
    draws = replace(a, chosen=torch.tensor([True, False, True, False]))
    moved = novel_views(samples, body, draws, tables, SurfaceCache(body, samples, tables).get(torch.arange(4)))
    for name in ("points", "vertex_index", "keypoints", "rotation", "cam_scale", "translation"):
        assert torch.equal(getattr(moved, name)[1], getattr(samples, name)[1]), name
        assert not torch.equal(getattr(moved, name)[0], getattr(samples, name)[0]), name


def test_training_with_novel_views_learns():
    torch.manual_seed(0)
    samples = _synthetic_samples(12)
    cfg = RegressorConfig(architecture="pointset", point_features=64)
    settings = RegressorTrainingSettings(model=cfg, epochs=2, min_steps=24, batch_size=6, lr=2e-3, progress_every=4,
                                         num_threads=1, novel_views=0.8, augment=True, augment_flip=0.5)
    result = train_regressor(samples, make_tiny_template(), settings)
    assert result.steps == 24
    first, last = result.history[0]["total"], result.history[-1]["total"]
    assert last < 0.7 * first, (first, last)


def test_bad_novel_view_settings_are_refused():
    for bad in ({"novel_views": 1.5}, {"view_points": 0}):
        with pytest.raises(ValueError, match="novel_views"):
            RegressorTrainingSettings(**bad)
    for bad in ({"novel_poses": -0.1}, {"view_pose": -1.0}):
        with pytest.raises(ValueError, match="novel_poses"):
            RegressorTrainingSettings(**bad)
