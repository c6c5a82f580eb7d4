"""Deform-and-learn rounds on a tiny synthetic project: completion, resume after a kill, review rules, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.lifting.cgan import LiftingSettings
from deformlearn.core.project.store import Project
from deformlearn.core.registration.schedule import FitSchedule
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.regressor.network import RegressorConfig
from deformlearn.core.regressor.prediction import predict_people
from deformlearn.core.regressor.training import RegressorTrainingSettings
from deformlearn.core.rounds.loop import RoundError, array_name, round_history, run_round
from deformlearn.core.rounds.settings import RoundSettings
from tests.round_project import make_round_project

REPO = Path(__file__).resolve().parents[1]


def tiny_settings(**changes) -> RoundSettings:
    return RoundSettings(
        lifting=LiftingSettings(epochs=10, batch_size=32, hidden=32, device="cpu"),
        first_registration=RegistrationSettings.round1(steps=40, num_orientations=2, num_threads=1),
        later_registration=RegistrationSettings.later_round(steps=20, num_threads=1),
        regressor=RegressorTrainingSettings(model=RegressorConfig(crop_size=32), epochs=4, batch_size=8, lr=1e-3,
                                            checkpoint_every=2, progress_every=1, num_threads=1),
        holdout_fraction=0.25, registration_chunk=6, **changes)


@pytest.fixture(scope="module")
def project_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rounds") / "template_project"
    make_round_project(path, n=16).close()
    return path


@pytest.fixture
def project_path(project_template, tmp_path) -> Path:
    import shutil

    path = tmp_path / "project"
    shutil.copytree(project_template, path)
    return path


def test_two_rounds_complete_with_models_fits_and_metrics(project_path):
    torch.set_num_threads(1)
    events = []
    with Project.open(project_path) as project:
        for k in (1, 2):
            record = run_round(project, tiny_settings(), progress=events.append)
            assert record.index == k and record.finished_at is not None
            assert all(record.stages[s] == "done" for s in ("lifting", "registration", "regressor", "evaluation"))
            assert len(project.fits(k)) == 16
            # round 2 starts from round 1's regressor without cGAN depths: it trains no lifter
            assert ("lifter" in record.models) == (k == 1) and (record.metrics["lifter"] == "skipped") == (k == 2)
            for name in record.models:
                assert (project_path / record.models[name]).is_file()
            assert not (project_path / f"models/round_{k:03d}/regressor.ckpt").exists()
        history = round_history(project)
        assert [h["round"] for h in history] == [1, 2]
        for h in history:
            for name in ("registration_mpjpe_mm", "regressor_mpjpe_mm", "registration_dense_px",
                         "regressor_dense_px", "seconds_registration", "registration_median_mpjpe_mm"):
                assert np.isfinite(h[name]), name
            assert 0 <= h["registration_over_200mm"] <= h["num_training_people"]
        assert np.isfinite(history[0]["cgan_mpjpe_mm"]) and "cgan_mpjpe_mm" not in history[1]
        assert history[0]["registration_dense_px"] < 10.0  # pixels of the 256 frame
        assert {e.stage for e in events} == {"lifting", "registration", "regressor"}
        assert all(0 <= e.step <= e.total for e in events)
        # the held-out people stay out of the regressor's training
        trained = set(project.read_array(array_name(2, "regressor_ids")).tolist())
        assert len(trained) == int(history[1]["num_training_people"]) < 16

        before_after = predict_people(project, project.person_ids()[:4],
                                      refine=FitSchedule.single_fit(steps=20, num_threads=1))
        assert before_after.metrics["after_dense_px"] < before_after.metrics["before_dense_px"]


def test_a_round_without_a_lifter_is_measured_without_cgan_metrics(project_path):
    torch.set_num_threads(1)
    with Project.open(project_path) as project:  # synthetic people: held out with ground truth
        record = run_round(project, tiny_settings(lifter_file="none", stages=("lifting", "registration",
                                                                               "evaluation")))
        assert record.finished_at is not None and record.metrics["lifter"] == "none"
        assert "cgan_mpjpe_mm" not in record.metrics and np.isfinite(record.metrics["registration_mpjpe_mm"])


def test_a_round_after_one_without_a_regressor_registers_as_round_one(project_path):
    torch.set_num_threads(1)
    settings = tiny_settings()
    events = []
    with Project.open(project_path) as project:
        run_round(project, replace(settings, stages=("lifting",)))
        run_round(project, replace(settings, stages=("lifting", "registration")), progress=events.append)
        fitted = len(project.fits(2))
    totals = {e.total for e in events if e.stage == "registration"}
    # from the T-pose on round 1's schedule (40 steps), not the short refinement of later rounds (20)
    assert totals == {fitted * settings.registration_schedule(1).steps} and fitted == 16
    assert settings.registration_schedule(2).steps < settings.registration_schedule(1).steps


def test_presets_paper_keeps_its_later_rounds_and_the_default_refines():
    paper, demo, default = RoundSettings.paper(), RoundSettings.cpu_demo(), RoundSettings()
    assert paper.later_round_depths and not demo.later_round_depths and not default.later_round_depths
    assert paper.later_registration == RegistrationSettings.later_round()
    for s in (demo, default):
        reg = s.later_registration
        assert reg.lr_warmup_steps > 0 and reg.lr_end_fraction < 1 and (reg.w_scale, reg.w_joint) == (10.0, 0.001)


def _round2_fits_with_scaled_depths(source: Path, path: Path, settings: RoundSettings, factor: float) -> dict:
    """Round 2's registration on a copy of `source` (round 2 lifted) with the cGAN depths scaled by `factor`."""
    import shutil

    from deformlearn.core.distributed import SINGLE
    from deformlearn.core.rounds.loop import _Round

    shutil.copytree(source, path)
    with Project.open(path) as project:
        name = array_name(2, "lifted_depths")
        project.write_array(name, project.read_array(name) * factor)
        _Round(project, settings, 2, None, None, SINGLE).registration()
        return {f.person_id: f.params["pose"] for f in project.fits(2)}


@pytest.mark.parametrize("later_round_depths", [False, True])
def test_later_rounds_use_the_cgan_depths_only_when_asked(project_path, tmp_path, later_round_depths):
    from deformlearn.core.distributed import SINGLE
    from deformlearn.core.rounds.loop import _Round

    torch.set_num_threads(1)
    # a lifter file named: round 2 lifts even where its registration would not read the depths
    settings = tiny_settings(later_round_depths=later_round_depths, lifter_file="synthetic")
    with Project.open(project_path) as project:
        run_round(project, settings)
        project.start_round(2)
        _Round(project, settings, 2, None, None, SINGLE).lifting()
        assert len(project.read_array(array_name(2, "lifted_ids"))) == 16
    same = _round2_fits_with_scaled_depths(project_path, tmp_path / "a", settings, 1.0)
    scaled = _round2_fits_with_scaled_depths(project_path, tmp_path / "b", settings, 3.0)
    assert same.keys() == scaled.keys() and len(same) == 16
    differ = any(not np.allclose(same[p], scaled[p], atol=1e-5) for p in same)
    assert differ == later_round_depths


def test_a_round_resumed_to_read_depths_after_a_skipped_lifting_lifts_first(project_path):
    from deformlearn.core.distributed import SINGLE
    from deformlearn.core.rounds.loop import _Round

    torch.set_num_threads(1)
    with Project.open(project_path) as project:
        run_round(project, tiny_settings())
        project.start_round(2)
        _Round(project, tiny_settings(), 2, None, None, SINGLE).lifting()
        assert project.rounds()[-1].metrics["lifter"] == "skipped"
        assert len(project.read_array(array_name(2, "lifted_ids"))) == 0
        record = run_round(project, tiny_settings(later_round_depths=True), resume=True)
        assert record.index == 2 and record.finished_at is not None and record.metrics["lifter"] != "skipped"
        assert len(project.read_array(array_name(2, "lifted_ids"))) == 16


def test_rejected_fits_never_reach_training(project_path):
    torch.set_num_threads(1)
    with Project.open(project_path) as project:
        ids = project.person_ids()
        project.set_review(int(ids[0]), "rejected", "wrong orientation")

        def reject_during_registration(event):  # a reviewer rejecting while the round runs is honoured too
            if event.stage == "registration":
                project.set_review(int(ids[1]), "rejected", "mid-round")

        run_round(project, tiny_settings(), progress=reject_during_registration)
        trained = set(project.read_array(array_name(1, "regressor_ids")).tolist())
        assert trained and int(ids[0]) not in trained and int(ids[1]) not in trained

        accepted = [int(p) for p in ids[2:8]]
        for pid in accepted:
            project.set_review(pid, "accepted")
        run_round(project, tiny_settings(only_accepted=True))
        trained = set(project.read_array(array_name(2, "regressor_ids")).tolist())
        assert trained and trained <= set(accepted)


def test_cancel_then_resume_and_interrupted_round_needs_resume(project_path):
    torch.set_num_threads(1)
    with Project.open(project_path) as project:
        seen, token = [], CancelToken()

        def cancel_in_registration(e) -> None:
            seen.append(e.stage)
            if seen.count("registration") > 3:
                token.cancel()

        with pytest.raises(Cancelled, match="registration"):
            run_round(project, tiny_settings(), progress=cancel_in_registration, cancel=token)
        committed = {f.person_id: f.id for f in project.fits(1)}
        assert 0 < len(committed) < 16  # whole chunks were committed, the rest not
        with pytest.raises(RoundError, match="interrupted"):
            run_round(project, tiny_settings())
        record = run_round(project, tiny_settings(), resume=True)
        assert record.index == 1 and record.finished_at is not None
        after = {f.person_id: f.id for f in project.fits(1)}
        assert len(after) == 16 and all(after[p] == i for p, i in committed.items())  # not registered twice


_KILL_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    from deformlearn.core.project.store import Project
    from deformlearn.core.rounds.loop import run_round
    from tests.test_rounds import tiny_settings
    torch.set_num_threads(1)
    with Project.open(sys.argv[1]) as project:
        run_round(project, tiny_settings(), resume=True, progress=lambda e: print(json.dumps(
            {"stage": e.stage, "step": e.step, "total": e.total}), flush=True))
""")


@pytest.mark.parametrize("kill_stage,kill_step", [("registration", 30), ("regressor", 5)])
def test_resume_after_kill(project_path, kill_stage, kill_step):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(project_path)], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    killed = False
    for line in proc.stdout:
        event = json.loads(line)
        if event["stage"] == kill_stage and event["step"] >= kill_step:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
    proc.wait(timeout=60)
    assert killed, "the round finished before it could be killed"
    with Project.open(project_path) as project:
        record = project.rounds()[0]
        assert record.finished_at is None and record.stages.get("lifting") == "done"
        if kill_stage == "regressor":
            assert (project_path / "models/round_001/regressor.ckpt").is_file()
        torch.set_num_threads(1)
        record = run_round(project, tiny_settings(), resume=True)
        assert record.finished_at is not None and len(project.fits(1)) == 16
        assert np.isfinite(record.metrics["regressor_mpjpe_mm"])


def test_cli_round_progress_json_and_errors(project_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    missing = subprocess.run([sys.executable, "-m", "deformlearn.core.cli", "round", str(tmp_path / "nope")],
                             capture_output=True, text=True, env=env, cwd=REPO)
    assert missing.returncode == 2 and "nope" in missing.stderr
    with Project.open(project_path) as project:
        project.start_round(1)  # an interrupted round
    out = subprocess.run([sys.executable, "-m", "deformlearn.core.cli", "round", str(project_path)],
                         capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 2 and "--resume" in out.stderr


def test_json_progress_lines_are_throttled_and_parseable(capsys):
    from deformlearn.core.cli.round import _JsonProgress
    from deformlearn.core.rounds.loop import RoundProgress

    progress = _JsonProgress(rate=1.0)
    for step in range(1, 11):
        progress(RoundProgress(1, "regressor", step, 10, {"total": 0.5, "bad": float("nan")}, 3.0))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["step"] for e in lines] == [1, 10]  # the first, then (within a second) only the last
    assert lines[-1] == {"event": "progress", "round": 1, "stage": "regressor", "step": 10, "total": 10,
                         "losses": {"total": 0.5, "bad": None}, "eta_s": 3.0}


def test_registration_dense_px_leaves_keypoint_only_fits_out(project_path):
    from deformlearn.core.densepose.correspondence import template_key
    from deformlearn.core.project.importing import load_project_template
    from deformlearn.core.project.records import FitRecord
    from deformlearn.core.rounds.metrics import evaluate_round

    with Project.open(project_path) as project:
        a, b, c = (int(p) for p in project.person_ids()[:3])
        project.start_round(1)
        project.save_fits([FitRecord(a, 1, {}, {"error": 2.0, "num_points": 30.0}, "converged"),
                           FitRecord(b, 1, {}, {"error": 4.0, "num_points": 12.0}, "converged"),
                           FitRecord(c, 1, {}, {"error": 0.0, "num_points": 0.0}, "converged")])  # keypoints only
        template = load_project_template(project)
        ids = np.array([a, b, c])
        metrics = evaluate_round(project, template, 1, ids, np.zeros(3, dtype=bool), template_key(template),
                                 has_gt=False)
    assert metrics["registration_dense_px"] == 3.0 and metrics["num_training_people"] == 3
