"""Registration: the losses, the normalised frame and padding, and the batched fitter on synthetic people
with known parameters (recovery, padding invariance, NaN isolation, cancel, progress, orientation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import gram_schmidt_rotation
from deformlearn.core.body.skeletons import SMPL_PARENTS
from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.metrics import mpjpe_mm
from deformlearn.core.registration.data import (
    PersonTargets,
    collate,
    normalised_to_pixels,
    pixels_to_normalised,
    square_box,
)
from deformlearn.core.registration.fitter import BodyParams, RegistrationProgress, register, start_rotations
from deformlearn.core.registration.losses import (
    JOINT_LIMIT_AXES,
    angle_loss,
    dense_loss,
    det_loss,
    keypoint_loss,
    scale_loss,
)
from deformlearn.core.registration.objective import Objective
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.registration.synthetic import make_synthetic_people
from tests.tiny_template import make_tiny_template

SMPL_BONES = [(j, int(SMPL_PARENTS[j])) for j in range(1, 24)]
FAST = dict(num_threads=1, progress_every=1000)


@pytest.fixture(scope="module")
def tiny_model() -> BodyModel:
    return BodyModel(make_tiny_template())


@pytest.fixture(scope="module")
def builtin_model(builtin_template) -> BodyModel:
    return BodyModel(builtin_template)


def _rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


def _fitted_joints(model: BodyModel, fits) -> np.ndarray:
    """(B, 24, 3) fitted joints turned by the fitted camera rotation (the frame of the ground truth)."""
    params = BodyParams.from_dicts([f.params for f in fits])
    with torch.no_grad():
        joints = model(params.pose, params.scales, None).joints
    rot = torch.from_numpy(np.stack([f.params["rotation"] for f in fits]))
    return (joints @ rot.transpose(1, 2)).numpy()


# -- losses ------------------------------------------------------------------------------------------------
def test_dense_loss_is_masked_mean_and_ignores_padding() -> None:
    proj = torch.zeros(2, 4, 2)
    pts = torch.tensor([[[1.0, 0], [0, 2], [0, 0], [0, 0]], [[1.0, 1], [0, 0], [0, 0], [0, 0]]])
    mask = torch.tensor([[True, True, False, False], [True, False, False, False]])
    assert torch.allclose(dense_loss(proj, pts, mask), torch.tensor([2.5, 2.0]))
    pts2 = pts.clone()
    pts2[0, 3] = 1e3  # a padded entry changes nothing
    assert torch.equal(dense_loss(proj, pts2, mask), dense_loss(proj, pts, mask))
    with pytest.raises(ValueError, match="points"):
        dense_loss(proj, pts[:, :3], mask)


def test_keypoint_loss_uses_depths_only_when_given() -> None:
    proj, target = torch.zeros(1, 17, 2), torch.zeros(1, 17, 2)
    target[0, 0] = torch.tensor([3.0, 4.0])
    vis = torch.ones(1, 17, dtype=torch.bool)
    vis[0, 1] = False
    target[0, 1] = 100.0  # invisible: ignored
    assert keypoint_loss(proj, target, vis).item() == pytest.approx(25.0)
    depths, target_depths = torch.zeros(1, 17), torch.zeros(1, 17)
    target_depths[0, 2] = 2.0
    assert keypoint_loss(proj, target, vis, depths, target_depths).item() == pytest.approx(29.0)


def test_scale_loss_over_adjacent_segments() -> None:
    scales = torch.ones(2, 24)
    scales[1, 4] = 1.5  # left knee: its bones to the hip (1) and to the ankle (7)
    assert scale_loss(scales).tolist() == pytest.approx([0.0, 2 * 0.25])


def test_angle_loss_penalises_only_hyperextension() -> None:
    for index, axis in JOINT_LIMIT_AXES.items():
        pose = torch.zeros(2, 23, 3)
        pose[0, index] = 0.5 * torch.tensor(axis)   # natural flexion
        pose[1, index] = -0.5 * torch.tensor(axis)  # bent backwards
        loss = angle_loss(pose, limit_factor=100.0)
        assert loss[0].item() == pytest.approx(0.25)
        assert loss[1].item() == pytest.approx(0.25 + 100 * 0.25)


def test_det_loss_pushes_reflections_back_with_a_gradient() -> None:
    values = torch.eye(3).reshape(1, 9).repeat(2, 1)
    values[1, 8] = -1.0  # a reflection
    values.requires_grad_(True)
    loss = det_loss(values)
    assert loss[0].item() == pytest.approx(math.exp(-1)) and loss[1].item() == pytest.approx(math.e)
    loss.sum().backward()
    assert values.grad[1].abs().sum() > 0  # exp(-det(GS(M))) would have none
    assert torch.linalg.det(gram_schmidt_rotation(values.detach()))[1] == pytest.approx(-1.0)


# -- frame and batches -------------------------------------------------------------------------------------
def test_normalised_frame_is_the_square_box() -> None:
    centre, half = square_box(np.array([100.0, 50.0, 40.0, 80.0]))
    assert centre.tolist() == [120.0, 90.0] and half == 40.0
    corners = np.array([[80.0, 50.0], [160.0, 130.0]])
    assert np.allclose(pixels_to_normalised(corners, centre, half), [[-1, -1], [1, 1]])
    assert np.allclose(normalised_to_pixels(pixels_to_normalised(corners, centre, half), centre, half), corners)
    with pytest.raises(ValueError, match="bbox"):
        square_box(np.array([0.0, 0.0, -1.0, 5.0]))


def test_collate_pads_and_masks() -> None:
    kp = np.zeros((17, 2), np.float32)
    people = [PersonTargets(i, np.ones((n, 2), np.float32), np.arange(n), kp, np.ones(17, bool))
              for i, n in enumerate((3, 5))]
    batch = collate(people, pad_to=8)
    assert batch.points.shape == (2, 8, 2) and batch.point_mask.sum(1).tolist() == [3, 5]
    assert batch.depths is None and batch.points[0, 3:].abs().sum() == 0
    with pytest.raises(ValueError, match="pad_to"):
        collate(people, pad_to=4)


# -- the fitter --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("people", [3, 40])  # 40: more than one chunk of the skinning product
def test_objective_matches_body_model_and_camera(tiny_model, people) -> None:
    batch = collate([p.targets for p in make_synthetic_people(tiny_model, people, seed=2)])
    n = 2 * people
    params = BodyParams(torch.randn(n, 23, 3) * 0.3, 1 + 0.1 * torch.randn(n, 24), torch.randn(n, 9),
                        torch.rand(n) + 0.5, torch.randn(n, 2) * 0.1)
    _, _, points_2d, kp_2d = Objective(tiny_model, batch, RegistrationSettings(), 2)(params)
    rows = batch.repeat_interleave(2)
    out = tiny_model(params.pose, params.scales, rows.vertex_index)
    rot = gram_schmidt_rotation(params.rotation)
    expect, _ = weak_perspective_project(out.vertices, rot, params.scale, params.translation)
    expect_kp, _ = weak_perspective_project(out.keypoints, rot, params.scale, params.translation)
    assert torch.allclose(points_2d, expect, atol=1e-5) and torch.allclose(kp_2d, expect_kp, atol=1e-5)


def test_fit_recovers_synthetic_people(builtin_model) -> None:
    people = make_synthetic_people(builtin_model, 6, seed=3, yaw_range=0.5)
    batch = collate([p.targets for p in people])
    first = register(builtin_model, batch, RegistrationSettings.round1(num_orientations=2, **FAST))
    init = BodyParams.from_dicts([f.params for f in first.fits])
    result = register(builtin_model, batch, RegistrationSettings.later_round(steps=300, **FAST), init=init)
    dense = np.array([f.dense_error_px for f in result.fits])
    assert not any(f.failed for f in result.fits)
    assert dense.mean() < 1.0, dense
    gt = np.stack([p.joints for p in people])
    assert mpjpe_mm(_fitted_joints(builtin_model, result.fits), gt, root=0, bones=SMPL_BONES) < 30.0


def test_padding_and_batch_mates_never_change_a_fit(tiny_model) -> None:
    people = make_synthetic_people(tiny_model, 3, seed=4)
    settings = RegistrationSettings.round1(steps=60, num_orientations=2, **FAST)
    alone = register(tiny_model, collate([people[0].targets]), settings).fits[0]
    n = max(len(p.targets.points) for p in people)
    together = register(tiny_model, collate([p.targets for p in people], pad_to=n + 37), settings).fits[0]
    for key, value in alone.params.items():
        np.testing.assert_allclose(together.params[key], value, atol=1e-4, err_msg=key)
    assert together.dense_error_px == pytest.approx(alone.dense_error_px, abs=1e-3)


def test_fit_is_deterministic_on_cpu(tiny_model) -> None:
    batch = collate([p.targets for p in make_synthetic_people(tiny_model, 2, seed=5)])
    settings = RegistrationSettings.later_round(steps=30, **FAST)
    a, b = register(tiny_model, batch, settings), register(tiny_model, batch, settings)
    for fa, fb in zip(a.fits, b.fits):
        for key in fa.params:
            assert np.array_equal(fa.params[key], fb.params[key])


def test_nan_point_fails_only_that_person(tiny_model) -> None:
    people = make_synthetic_people(tiny_model, 3, seed=6, yaw_range=0.3)
    targets = [p.targets for p in people]
    points = targets[1].points.copy()
    points[5] = np.nan
    targets[1] = PersonTargets(1, points, targets[1].vertex_index, targets[1].keypoints, targets[1].keypoint_visible)
    settings = RegistrationSettings.later_round(steps=150, **FAST)
    result = register(tiny_model, collate(targets), settings)
    clean = register(tiny_model, collate([targets[0], targets[2]]), settings)
    assert [f.failed for f in result.fits] == [False, True, False]
    for fit, ref in zip((result.fits[0], result.fits[2]), clean.fits):
        assert np.all(np.isfinite(fit.params["pose"]))
        np.testing.assert_allclose(fit.params["pose"], ref.params["pose"], atol=1e-4)
        assert fit.dense_error_px < 5.0


def test_cancel_stops_within_one_step(tiny_model) -> None:
    batch = collate([p.targets for p in make_synthetic_people(tiny_model, 2, seed=7)])
    token, steps = CancelToken(), []

    def cancel_at_five(e: RegistrationProgress) -> None:
        steps.append(e.step)
        if e.step == 5:
            token.cancel()

    settings = RegistrationSettings.later_round(**{**FAST, "progress_every": 1})
    with pytest.raises(Cancelled, match=f"registration at step 5 of {settings.steps}"):
        register(tiny_model, batch, settings, progress=cancel_at_five, cancel=token)
    assert steps == [1, 2, 3, 4, 5]


def test_progress_reports_losses_and_watched_meshes(tiny_model) -> None:
    batch = collate([p.targets for p in make_synthetic_people(tiny_model, 3, seed=8)])
    events: list[RegistrationProgress] = []
    settings = RegistrationSettings.round1(steps=20, num_orientations=2, num_threads=1, progress_every=5)
    register(tiny_model, batch, settings, progress=events.append, watch=[2])
    assert [e.step for e in events] == [5, 10, 15, 20] and events[-1].total == 20
    assert events[-1].vertices.shape == (1, tiny_model.num_vertices, 3) and events[-1].watched == (2,)
    assert set(events[-1].losses) == {"dense", "KP", "scale", "angle", "det", "total"}
    assert events[-1].losses["dense"].shape == (3,)
    assert events[-1].losses["total"].mean() < events[0].losses["total"].mean()


def test_start_rotations_turn_about_the_vertical_axis() -> None:
    rots = start_rotations(4).reshape(4, 3, 3)
    assert torch.allclose(rots[0], torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    forward = torch.tensor([0.0, 0.0, 1.0])  # where the body faces; camera z points away from the viewer
    assert torch.allclose(rots[0] @ forward, -forward) and torch.allclose(rots[2] @ forward, forward, atol=1e-6)
    assert torch.allclose(torch.linalg.det(rots), torch.ones(4))


def test_multi_start_recovers_people_facing_away(builtin_model) -> None:
    people = make_synthetic_people(builtin_model, 4, seed=10, yaw_range=0.4, yaw_offset=math.pi)
    batch = collate([p.targets for p in people], use_depths=False)
    result = register(builtin_model, batch, RegistrationSettings.round1(num_orientations=4, **FAST))
    errors = [_rotation_error_deg(f.params["rotation"], p.rotation) for f, p in zip(result.fits, people)]
    assert max(errors) < 45.0, errors
    assert all(f.orientation in (1, 2, 3) for f in result.fits)


def test_register_command_writes_fits(tmp_path, tiny_model, capsys) -> None:
    from deformlearn.core.body.template import save_template
    from deformlearn.core.cli.parser import main
    from deformlearn.core.densepose.records import DensePoints
    from deformlearn.core.project.store import Project

    template = tiny_model.template
    save_template(template, tmp_path / "tiny.npz")
    with Project.create(tmp_path / "proj", template=str(tmp_path / "tiny.npz")) as project:
        image = project.add_image(tmp_path / "img.png", 800, 800)
        for i, person in enumerate(make_synthetic_people(tiny_model, 3, seed=11, yaw_range=0.3)):
            t = person.targets
            xy = normalised_to_pixels(t.points, t.centre, t.half_side)
            kp = np.concatenate([normalised_to_pixels(t.keypoints, t.centre, t.half_side), np.full((17, 1), 2.0)], 1)
            bbox = np.array([*(t.centre - t.half_side), 2 * t.half_side, 2 * t.half_side])
            dense = DensePoints(xy, template.vertex_part[t.vertex_index], template.vertex_uv[t.vertex_index])
            project.add_person(image, bbox=bbox, keypoints=kp, dense=dense, source_key=f"p{i}")
        ids = project.person_ids()
    code = main(["register", str(tmp_path / "proj"), "--only", f"{ids[0]},{ids[2]}", "--steps", "40",
                 "--orientations", "2", "--threads", "1"])
    assert code == 0 and "registered 2 people" in capsys.readouterr().out
    with Project.open(tmp_path / "proj", readonly=True) as project:
        fit = project.latest_fit(int(ids[0]))
        assert fit is not None and fit.params["pose"].shape == (23, 3) and fit.params["rotation"].shape == (3, 3)
        assert fit.metrics["error"] < 20.0 and project.latest_fit(int(ids[1])) is None
    assert main(["register", str(tmp_path / "proj"), "--only", "999"]) == 2
    assert main(["register", str(tmp_path / "proj"), "--only", str(ids[0]), "--init", "fits", "--steps", "5"]) == 0
    assert main(["register", str(tmp_path / "proj"), "--only", str(ids[1]), "--init", "fits"]) == 2  # no fit yet


def test_cancel_before_the_first_step_and_only_a_token(tiny_model) -> None:
    import threading

    token = CancelToken()
    token.cancel()
    batch = collate([p.targets for p in make_synthetic_people(tiny_model, 1, seed=12)])
    with pytest.raises(Cancelled, match="registration at step 0 of"):
        register(tiny_model, batch, RegistrationSettings.later_round(**FAST), cancel=token)
    with pytest.raises(TypeError, match="register: cancel must be a deformlearn.core.cancel.CancelToken"):
        register(tiny_model, batch, RegistrationSettings.later_round(**FAST), cancel=threading.Event())


# -- early stopping ----------------------------------------------------------------------------------------
def _first_plateau(losses: list[float], window: int, rtol: float, warmup: int = 0) -> int:
    """The first step t >= warmup + window whose losses t - window .. t stayed within rtol of their lowest."""
    for t in range(warmup + window, len(losses)):
        span = losses[t - window:t + 1]
        if max(span) - min(span) < rtol * abs(min(span)):
            return t
    raise AssertionError("no plateau in the reference run")


def test_early_stopping_stops_on_the_first_plateau_and_not_before(tiny_model) -> None:
    batch = collate([make_synthetic_people(tiny_model, 1, seed=11)[0].targets])
    settings = RegistrationSettings.round1(steps=300, num_orientations=1, num_threads=1, progress_every=1)
    losses: list[float] = []  # the event after k updates holds the loss evaluated after k - 1 of them
    register(tiny_model, batch, settings, progress=lambda e: losses.append(float(e.losses["total"][0])))
    stop = _first_plateau(losses, settings.converged_window, 5e-2)
    assert 20 < stop < 250  # the loss falls first: stopping at the first window would be wrong
    early = register(tiny_model, batch, settings.with_(early_stop_rtol=5e-2))
    assert early.steps_done == stop and early.fits[0].steps == stop and early.fits[0].converged
    same = register(tiny_model, batch, settings.with_(steps=stop)).fits[0]  # constant lr: the same run, cut
    for key, value in same.params.items():
        np.testing.assert_allclose(early.fits[0].params[key], value, atol=1e-6, err_msg=key)
    assert register(tiny_model, batch, settings.with_(early_stop_rtol=1e-4)).fits[0].steps > stop


def test_early_stopping_waits_for_the_warm_up_and_leaves_batch_mates_alone(tiny_model) -> None:
    people = [p.targets for p in make_synthetic_people(tiny_model, 3, seed=12)]
    settings = RegistrationSettings.round1(steps=200, num_orientations=2, early_stop_rtol=1e-2, **FAST)
    alone = register(tiny_model, collate([people[0]]), settings).fits[0]
    together = register(tiny_model, collate(people), settings)
    assert together.fits[0].steps == alone.steps and together.steps_done == max(f.steps for f in together.fits)
    for key, value in alone.params.items():
        np.testing.assert_allclose(together.fits[0].params[key], value, atol=1e-4, err_msg=key)
    anything = RegistrationSettings.refinement(steps=100, early_stop_rtol=1e9, **FAST)  # every loss is "flat"
    init = BodyParams.from_dicts([f.params for f in together.fits])
    result = register(tiny_model, collate(people), anything, init=init)  # ... but only after warm-up + window
    assert {f.steps for f in result.fits} == {anything.lr_warmup_steps + anything.converged_window}


def test_the_speed_benchmark_refuses_impossible_rates() -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "registration.py"
    spec = importlib.util.spec_from_file_location("registration_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    images = 512 * 20
    rate, why = bench.step_rate(images, [0.50, 0.52, 0.51], [1.50, 1.49, 1.52])
    assert why is None and rate == pytest.approx(images / 0.99)
    # the run that once printed 10,240,000,000,000 image-iterations/s: both lengths took the same time
    assert bench.step_rate(images, [0.90, 1.40, 1.00], [1.00, 0.95, 1.30])[0] is None
    assert "not slower" in bench.step_rate(images, [1.0, 1.0, 1.0], [0.9, 1.0, 0.95])[1]
    assert "spread" in bench.step_rate(images, [0.5, 0.9, 0.6], [0.8, 0.7, 1.2])[1]
    assert "above the possible" in bench.step_rate(images, [0.5, 0.5, 0.5], [0.5001, 0.5001, 0.5001])[1]
