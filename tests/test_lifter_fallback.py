"""Projects with too few keypoint people lift with the cached synthetic lifter (and say so); IUV-only projects
run whole rounds; --lifter none turns the depths off; the depth-order metric on known answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deformlearn.core.lifting.cgan import LiftingSettings, lift
from deformlearn.core.lifting.data import DEFAULT_AVERAGE_SKELETON, make_synthetic_skeletons
from deformlearn.core.lifting.evaluation import depth_sign_agreement
from deformlearn.core.lifting.synthetic_lifter import synthetic_lifter, synthetic_lifter_path
from deformlearn.core.project.store import Project
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.regressor.network import RegressorConfig
from deformlearn.core.regressor.training import RegressorTrainingSettings
from deformlearn.core.rounds.loop import array_name, run_round
from deformlearn.core.rounds.settings import RoundSettings
from tests.round_project import make_round_project

REPO = Path(__file__).resolve().parents[1]
TINY_LIFTING = LiftingSettings(epochs=4, batch_size=128, hidden=24, device="cpu")


def small_settings(**changes) -> RoundSettings:
    return RoundSettings(
        lifting=changes.pop("lifting", TINY_LIFTING),
        first_registration=RegistrationSettings.round1(steps=30, num_orientations=2, num_threads=1),
        regressor=RegressorTrainingSettings(model=RegressorConfig(crop_size=32), epochs=2, batch_size=8, lr=1e-3,
                                            num_threads=1),
        holdout_fraction=0.0, **changes)


@pytest.fixture
def lifter_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DEFORMLEARN_LIFTER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_depth_sign_agreement_known_answers():
    z = np.array([[0.0, 0.2, 0.5, 0.3]])
    mask = np.ones_like(z, bool)
    assert depth_sign_agreement(z * 100, z, mask) == 1.0  # any units, same order
    assert depth_sign_agreement(-z, z, mask) == 0.0  # mirrored in depth
    assert np.isnan(depth_sign_agreement(z, np.zeros_like(z), mask))  # no pair 10 cm apart
    with pytest.raises(ValueError, match="depths_gt"):
        depth_sign_agreement(z, z[:, :3], mask)


def test_synthetic_lifter_trains_once_then_loads_and_learns_depth_order(lifter_cache):
    settings = LiftingSettings(epochs=20, batch_size=64, hidden=64, learning_rate=1e-3, device="cpu", threads=1)
    first = synthetic_lifter(DEFAULT_AVERAGE_SKELETON, settings)
    assert first.trained and first.path.is_file() and first.path.parent == lifter_cache
    again = synthetic_lifter(DEFAULT_AVERAGE_SKELETON, settings)
    test = make_synthetic_skeletons(200, seed=7)
    assert not again.trained and np.allclose(lift(first.generator, test.keypoints_2d),
                                             lift(again.generator, test.keypoints_2d), atol=1e-5)
    vis = test.keypoints_2d[..., 2] > 0
    # well above chance (0.5) on held-out skeletons (0.82 measured at 30 epochs)
    assert depth_sign_agreement(lift(again.generator, test.keypoints_2d), test.joints3d_cam[..., 2], vis) > 0.7
    # another width or another skeleton is another file; where it runs is not part of the name
    assert synthetic_lifter_path(DEFAULT_AVERAGE_SKELETON, LiftingSettings(hidden=64)) != first.path
    assert synthetic_lifter_path(DEFAULT_AVERAGE_SKELETON * 1.1, settings) != first.path
    assert synthetic_lifter_path(DEFAULT_AVERAGE_SKELETON, LiftingSettings(
        epochs=20, batch_size=64, hidden=64, learning_rate=1e-3, device="cuda", threads=4)) == first.path
    first.path.write_bytes(b"damaged")
    assert synthetic_lifter(DEFAULT_AVERAGE_SKELETON, settings).trained  # a damaged cache file is replaced


def test_small_project_round_says_it_uses_the_synthetic_lifter(tmp_path, lifter_cache):
    with make_round_project(tmp_path / "p", n=8) as project:
        events = []
        record = run_round(project, small_settings(), progress=events.append)
        notes = [e.message for e in events if e.message]
        assert record.finished_at is not None and record.metrics["lifter"] == "synthetic"
        assert len(notes) == 1 and "8 of the project's training people" in notes[0]
        assert "synthetic lifter" in notes[0] and str(lifter_cache) in notes[0]
        assert record.metrics["lifter_note"] == notes[0]
        assert (project.root / record.models["lifter"]).is_file() and len(project.fits(1)) == 8
        depths = project.read_array(array_name(1, "lifted_depths"))
        assert depths.shape == (8, 17) and np.isfinite(depths).all() and np.abs(depths).max() > 0
        # enough people for its own cGAN (min_people lowered here; round 2 reads its depths only with
        # later_round_depths): trained on the project, nothing said
        events.clear()
        own = run_round(project, small_settings(lifting=LiftingSettings(
            epochs=4, batch_size=128, hidden=24, device="cpu", min_people=8), later_round_depths=True),
            progress=events.append)
        assert own.metrics["lifter"] == "project" and own.metrics["lifter_note"] == ""
        assert not [e for e in events if e.message]


def test_project_without_keypoints_runs_a_full_round(tmp_path, lifter_cache):
    with make_round_project(tmp_path / "p", n=6) as project:
        for pid in project.person_ids():
            project.update_annotation(int(pid), keypoints=np.zeros((17, 3), np.float32))
        record = run_round(project, small_settings())
        assert all(record.stages.get(s) == "done" for s in ("lifting", "registration", "regressor", "evaluation"))
        assert "0 of the project's training people" in record.metrics["lifter_note"]
        assert (project.root / record.models["regressor"]).is_file() and len(project.fits(1)) == 6


def test_lifter_none_fits_without_depths(tmp_path, lifter_cache):
    with make_round_project(tmp_path / "p", n=4) as project:
        record = run_round(project, small_settings(lifter_file="none", stages=("lifting", "registration")))
        assert record.metrics["lifter"] == "none" and "without cGAN depths" in record.metrics["lifter_note"]
        assert "lifter" not in record.models and not list(lifter_cache.glob("*.pt"))
        assert project.read_array(array_name(1, "lifted_depths")).shape == (0, 17)
        assert len(project.fits(1)) == 4


def test_cli_names_a_missing_lifter_file_and_prints_the_lifter_note(tmp_path, lifter_cache, monkeypatch):
    import deformlearn.core.cli.round as round_cli
    from deformlearn.core.rounds.loop import RoundProgress

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    make_round_project(tmp_path / "p", n=2).close()
    out = subprocess.run([sys.executable, "-m", "deformlearn.core.cli", "round", str(tmp_path / "p"), "--lifter",
                          str(tmp_path / "nope.pt")], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 2 and "nope.pt" in out.stderr and "synthetic" in out.stderr
    with Project.open(tmp_path / "p") as project:
        assert project.rounds() == []  # refused before a round was started
    emitted: list[dict] = []
    monkeypatch.setattr(round_cli, "emit", emitted.append)
    progress = round_cli._JsonProgress(rate=1e-6)  # one event per stage and a million seconds
    progress(RoundProgress(1, "lifting", 1, 10, {"generator": 1.0}))
    progress(RoundProgress(1, "lifting", 2, 10, {"generator": 1.0}))  # throttled
    progress(RoundProgress(1, "lifting", 0, 0, {}, None, "lifting with the synthetic lifter"))  # never throttled
    assert len(emitted) == 2 and json.loads(json.dumps(emitted[1])) == {
        "event": "progress", "round": 1, "stage": "lifting", "message": "lifting with the synthetic lifter"}
