"""Keypoint-only people: no dense points is a normal case (engine and `register`), confidences weigh keypoints,
and the keypoint schedule recovers a synthetic person's orientation from 17 keypoints."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from deformlearn.core.body.model import BodyModel
from deformlearn.core.registration.data import PersonTargets, collate, keypoint_weights, normalised_to_pixels
from deformlearn.core.registration.schedule import FitSchedule, register_schedule
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.registration.synthetic import make_synthetic_people
from deformlearn.core.rounds.metrics import fit_keypoints_camera

FAST = dict(num_threads=1, progress_every=1000)


def _without_points(t: PersonTargets) -> PersonTargets:
    return replace(t, points=np.zeros((0, 2), np.float32), vertex_index=np.zeros(0, np.int64))


def test_stored_keypoint_column_becomes_weights() -> None:
    w = keypoint_weights(np.array([0, 2, 1, 0.4, -1, np.nan, 0.01] + [2] * 10))
    assert w[:7].tolist() == [0, 1, 1, np.float32(0.4), 0, 0, np.float32(0.01)]
    person = PersonTargets.from_pixels(0, np.array([0, 0, 100, 100]), np.zeros((0, 2)), np.zeros(0),
                                       np.concatenate([np.full((17, 2), 50.0), np.full((17, 1), 0.5)], 1))
    assert np.allclose(person.weights, 0.5) and collate([person]).keypoint_weight.shape == (1, 17)


def test_people_without_dense_points_fit_on_their_keypoints(builtin_template) -> None:
    body = BodyModel(builtin_template)
    people = make_synthetic_people(body, 3, seed=21, yaw_range=0.6)
    targets = [_without_points(p.targets) for p in people]
    batch = collate(targets)
    assert batch.point_mask.shape == (3, 1) and not batch.point_mask.any()
    schedule = FitSchedule.keypoints_only(RegistrationSettings.round1(steps=150, **FAST))
    fits = register_schedule(body, batch, schedule).fits
    for fit, person in zip(fits, people):
        assert not fit.failed and fit.dense_error_px == 0.0 and fit.keypoint_error_px < 4.0
        truth = np.asarray(person.rotation).reshape(3, 3)
        turn = np.degrees(np.arccos(np.clip((np.trace(truth.T @ fit.params["rotation"]) - 1) / 2, -1, 1)))
        assert turn < 35.0


def test_a_low_confidence_keypoint_pulls_less(builtin_template) -> None:
    body = BodyModel(builtin_template)
    person = make_synthetic_people(body, 1, seed=4, yaw_range=0.2)[0].targets
    moved = person.keypoints.copy()
    moved[9] += 0.3  # the left wrist far off
    sure = _without_points(replace(person, keypoints=moved, keypoint_weight=np.ones(17, np.float32)))
    unsure = replace(sure, keypoint_weight=np.where(np.arange(17) == 9, 0.01, 1.0).astype(np.float32))
    schedule = FitSchedule.keypoints_only(RegistrationSettings.round1(steps=90, **FAST))
    fits = register_schedule(body, collate([sure, unsure]), schedule).fits
    image = fit_keypoints_camera(body, [f.params for f in fits], image_plane=True)[..., :2]
    others = np.arange(17) != 9
    error = [np.linalg.norm(kp[others] - person.keypoints[others], axis=-1).mean() for kp in image]
    assert error[1] < 0.8 * error[0]  # the unsure wrist drags the rest of the body less


def test_register_command_fits_a_keypoint_only_project(tmp_path, tiny_template, capsys) -> None:
    from deformlearn.core.body.template import save_template
    from deformlearn.core.cli.parser import main
    from deformlearn.core.project.store import Project

    body = BodyModel(tiny_template)
    save_template(tiny_template, tmp_path / "tiny.npz")
    with Project.create(tmp_path / "proj", template=str(tmp_path / "tiny.npz")) as project:
        image = project.add_image(tmp_path / "img.png", 800, 800)
        for i, person in enumerate(make_synthetic_people(body, 2, seed=8, yaw_range=0.3)):
            t = person.targets
            kp = np.concatenate([normalised_to_pixels(t.keypoints, t.centre, t.half_side), np.full((17, 1), 0.9)], 1)
            bbox = np.array([*(t.centre - t.half_side), 2 * t.half_side, 2 * t.half_side])
            project.add_person(image, bbox=bbox, keypoints=kp, dense=None, source_key=f"k{i}")
        ids = project.person_ids()
    assert main(["register", str(tmp_path / "proj"), "--steps", "30", "--threads", "1"]) == 0
    assert "registered 2 people" in capsys.readouterr().out
    with Project.open(tmp_path / "proj", readonly=True) as project:
        for pid in ids:
            m = project.latest_fit(int(pid)).metrics
            assert m["num_points"] == 0 and m["num_keypoints"] == 17 and np.isfinite(m["keypoint_error_px"])
