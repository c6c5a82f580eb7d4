"""The one fit pipeline: the command line, the app's worker and the rounds store fits with the same metric
schema; the app shows a command-line fit's keypoint error; staged schedules; the quality verdict."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.project.store import Project
from deformlearn.core.registration.data import PersonTargets, collate
from deformlearn.core.registration.fitter import RegistrationProgress
from deformlearn.core.registration.pipeline import FIT_METRIC_KEYS, keypoint_error_of
from deformlearn.core.registration.quality import judge_fit
from deformlearn.core.registration.schedule import FitSchedule, register_schedule
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.registration.synthetic import make_synthetic_people

FAST = dict(num_threads=1, progress_every=1000)


def _cli_fit(project_root, pid: int) -> None:
    from deformlearn.core.cli.parser import main

    assert main(["register", str(project_root), "--only", str(pid), "--steps", "20", "--orientations", "1",
                 "--threads", "1"]) == 0


def test_every_entry_point_stores_the_same_metric_keys(small_project, tiny_template) -> None:
    from deformlearn.app.registration_worker import RegistrationWorker
    from deformlearn.core.distributed import SINGLE
    from deformlearn.core.rounds.loop import _Round
    from deformlearn.core.rounds.settings import RoundSettings

    _cli_fit(small_project, 4)
    worker = RegistrationWorker(str(small_project), tiny_template, [5],
                                RegistrationSettings.round1(steps=20, num_orientations=1, **FAST))
    assert worker._run()["fitted"] == 1
    with Project.open(small_project) as project:
        settings = RoundSettings.cpu_demo()
        ctx = _Round(project, settings, 1, None, None, SINGLE)
        records = ctx.register_chunk([6], {}, None, settings.first_registration.with_(steps=20), None, 0, 20, 0.0, 1)
        project.save_fits(records)
        metrics = [project.latest_fit(pid).metrics for pid in (4, 5, 6)]
    for m in metrics:
        assert set(FIT_METRIC_KEYS) <= set(m) and "keypoint_error" not in m
        assert m["quality"] in ("good", "poor", "degenerate") and isinstance(m["quality_flags"], str)
        assert np.isfinite(m["keypoint_error_px"]) and m["num_points"] == 40.0
    loss_keys = [{k for k in m if k.startswith("loss_")} for m in metrics]
    assert loss_keys[0] == loss_keys[1] and {"loss_total", "loss_dense", "loss_KP"} <= loss_keys[2]


def test_the_app_shows_a_command_line_fits_keypoint_error(make_window, small_project) -> None:
    _cli_fit(small_project, 4)
    with Project.open(small_project) as project:
        expected = project.latest_fit(4).metrics["keypoint_error_px"]
    win = make_window(small_project)
    win.people.select_row(3)
    assert win.people.current_person() == 4
    assert f"keypoint error {expected:.3g} px" in win.image_view.info.text()


def test_old_app_fits_keep_their_keypoint_error() -> None:
    assert keypoint_error_of({"keypoint_error": 3.5}) == 3.5
    assert keypoint_error_of({"keypoint_error_px": 2.0, "keypoint_error": 9.0}) == 2.0
    assert keypoint_error_of({"error": 1.0}) is None


def test_staged_schedule_counts_steps_over_its_stages_and_relaxes(builtin_template) -> None:
    body = BodyModel(builtin_template)
    people = make_synthetic_people(body, 2, seed=3)
    schedule = FitSchedule.staged(RegistrationSettings.round1(steps=40, num_orientations=2, **{**FAST, "progress_every": 5}))
    assert [s.steps for s in schedule.stages] == [20, 20] and schedule.stages[1].w_joint == 0.001
    events: list[RegistrationProgress] = []
    result = register_schedule(body, collate([p.targets for p in people]), schedule, progress=events.append)
    assert [e.step for e in events] == [5, 10, 15, 20, 25, 30, 35, 40] and {e.total for e in events} == {40}
    assert result.steps_done == 40 and all(not f.failed for f in result.fits)
    single = register_schedule(body, collate([p.targets for p in people]), FitSchedule.single(schedule.stages[0].with_(
        steps=40)))
    # relaxing the stiff weights lets the body bend where it must: the 2D fit ends closer
    assert np.mean([f.dense_error_px for f in result.fits]) < np.mean([f.dense_error_px for f in single.fits])


def test_a_fit_of_points_at_one_pixel_is_degenerate(tiny_template) -> None:
    body = BodyModel(tiny_template)
    n = 30
    person = PersonTargets(0, np.zeros((n, 2), np.float32), np.arange(n), np.zeros((17, 2), np.float32),
                           np.zeros(17, bool))
    result = register_schedule(body, collate([person]), FitSchedule.single(RegistrationSettings(steps=60, **FAST)))
    verdict, flags = judge_fit(result.fits[0], person, body)
    assert verdict == "degenerate" and "points_at_one_spot" in flags


def test_a_good_synthetic_fit_is_judged_good_and_a_broken_one_poor(builtin_template) -> None:
    body = BodyModel(builtin_template)
    person = make_synthetic_people(body, 1, seed=5, yaw_range=0.2)[0]
    fit = register_schedule(body, collate([person.targets]), FitSchedule.single_fit(steps=200, **FAST)).fits[0]
    assert judge_fit(fit, person.targets, body) == ("good", [])
    bent = dict(fit.params, pose=fit.params["pose"].copy())
    bent["pose"][3, 0] = -1.5  # the left knee bent 86 degrees backwards
    broken = type(fit)(**{**fit.__dict__, "params": bent})
    verdict, flags = judge_fit(broken, person.targets, body)
    assert verdict == "poor" and "implausible_pose" in flags


def test_pose_prior_is_zero_inside_the_ranges_and_grows_outside() -> None:
    from deformlearn.core.registration.losses import POSE_LIMITS_DEG, pose_prior_loss

    pose = torch.zeros(2, 23, 3, requires_grad=True)
    with torch.no_grad():
        pose[1, 3, 0] = -0.5  # knee hyperextended by 29 degrees (limit -5)
    loss = pose_prior_loss(pose)
    assert float(loss[0]) == 0 and float(loss[1]) == pytest.approx((0.5 - np.radians(5)) ** 2, rel=1e-4)
    loss.sum().backward()
    assert pose.grad[1, 3, 0] < 0 and torch.count_nonzero(pose.grad) == 1
    assert len(POSE_LIMITS_DEG) == 23


def _warm_start_fit(project_root, template, pid: int, review: str | None) -> tuple[list, dict]:
    """Store the truth of `pid` as its current "good" fit (reviewed `review`), fit it with start "auto":
    (progress events, the new fit's metrics)."""
    from deformlearn.core.project.records import FitRecord
    from deformlearn.core.registration.pipeline import FitPlan, fit_people

    events = []
    with Project.open(project_root) as project:
        truth = project.ground_truth(pid)
        project.save_fits([FitRecord(pid, 0, truth, {"error": 0.0, "quality": "good"}, "converged")])
        if review is not None:
            project.set_review(pid, review)
        schedule = FitSchedule.single_fit(steps=40, num_orientations=1, **{**FAST, "progress_every": 1})
        fit_people(project, template, [pid], FitPlan(schedule, start="auto"), progress=events.append, watch_pid=pid)
        return events, project.latest_fit(pid).metrics


def test_auto_start_refits_from_a_good_fit_and_starts_where_it_is(small_project, tiny_template) -> None:
    from deformlearn.core.registration.pipeline import start_params

    with Project.open(small_project) as project:
        assert start_params(project, [4], "auto") is None  # no fit yet: the T-pose
    events, metrics = _warm_start_fit(small_project, tiny_template, 4, None)
    refit = FitSchedule.refit(FitSchedule.single_fit(steps=40, num_orientations=1, **FAST))
    assert refit.stages == (FitSchedule.single_fit(steps=40, **FAST).stages[-1],)
    assert {e.total for e in events} == {refit.steps} and metrics["steps"] <= refit.steps
    assert events[0].losses["dense"] < 1e-6  # the first step starts at the stored (true) fit
    with Project.open(small_project) as project:
        current = project.current_fit(4)
        start = start_params(project, [4], "auto")
        assert current.metrics["quality"] == "good"  # the re-fit's verdict; its params start the next one
        np.testing.assert_allclose(start.pose[0].numpy(), current.params["pose"], atol=1e-6)


def test_auto_start_ignores_a_rejected_fit(small_project, tiny_template) -> None:
    events, metrics = _warm_start_fit(small_project, tiny_template, 5, "rejected")
    assert {e.total for e in events} == {40} and events[0].losses["dense"] > 1e-3  # the T-pose schedule


def test_a_fit_process_that_dies_is_reported_and_replaced(small_project, tiny_template) -> None:
    import os
    import signal

    from deformlearn.app.registration_worker import FitFailed, FitJob, RegistrationWorker, fit_process
    from deformlearn.core.cancel import CancelToken
    from deformlearn.core.registration.pipeline import FitPlan

    settings = RegistrationSettings.round1(steps=400, num_orientations=1, **{**FAST, "progress_every": 1})
    process = fit_process()
    job = FitJob(str(small_project), tiny_template, [4], FitPlan(FitSchedule.single_fit(settings)), 4)
    with pytest.raises(FitFailed, match="the fit process stopped"):
        process.fit(job, lambda e: os.kill(process.pid, signal.SIGKILL), CancelToken())  # dies at its first step
    with Project.open(small_project) as project:
        assert project.latest_fit(4) is None
    worker = RegistrationWorker(str(small_project), tiny_template, [4], settings.with_(steps=20))
    assert worker._run()["fitted"] == 1 and fit_process() is not process


def test_a_fit_that_stops_early_ends_its_progress_full(tiny_template) -> None:
    body = BodyModel(tiny_template)
    batch = collate([make_synthetic_people(body, 1, seed=11)[0].targets])
    schedule = FitSchedule.single_fit(steps=300, num_orientations=1, early_stop_rtol=5e-2, **{**FAST, "progress_every": 1})
    events: list[RegistrationProgress] = []
    result = register_schedule(body, batch, schedule, progress=events.append)
    assert result.steps_done < schedule.steps and result.fits[0].steps == result.steps_done
    assert events[-1].step == events[-1].total == result.steps_done  # a progress bar ends full
    assert all(a.step <= b.step and a.total >= b.total for a, b in zip(events, events[1:]))


def test_an_error_while_relaying_progress_ends_that_fit_process(small_project, tiny_template) -> None:
    from deformlearn.app.registration_worker import FitJob, fit_process
    from deformlearn.core.cancel import CancelToken
    from deformlearn.core.registration.pipeline import FitPlan

    settings = RegistrationSettings.round1(steps=400, num_orientations=1, **{**FAST, "progress_every": 1})
    process = fit_process()
    job = FitJob(str(small_project), tiny_template, [4], FitPlan(FitSchedule.single_fit(settings)), 4)

    def broken_view(event) -> None:
        raise RuntimeError("the view broke")

    with pytest.raises(RuntimeError, match="the view broke"):
        process.fit(job, broken_view, CancelToken())
    deadline = time.monotonic() + 5
    while process.is_alive() and time.monotonic() < deadline:  # killed: SIGKILL lands within moments
        time.sleep(0.05)
    assert not process.is_alive()  # its events cannot reach the next job: that one gets a fresh process
    assert fit_process() is not process


def test_register_init_auto_refits_good_fits_and_fits_start_from_the_current_fit(small_project) -> None:
    from deformlearn.core.cli.parser import main
    from deformlearn.core.project.records import FitRecord
    from deformlearn.core.registration.pipeline import start_params

    with Project.open(small_project) as project:
        truth = project.ground_truth(4)
        project.save_fits([FitRecord(4, 0, truth, {"error": 0.0, "quality": "good"}, "converged")])
        first = project.current_fit(4).id
    assert main(["register", str(small_project), "--only", "4,5", "--init", "auto", "--steps", "40",
                 "--orientations", "1", "--threads", "1"]) == 0
    with Project.open(small_project) as project:
        refit = project.latest_fit(4)
        assert refit.metrics["steps"] <= 20  # the relaxed stage alone (half of 40), not the T-pose schedule
        assert project.latest_fit(5).metrics["steps"] > 20  # no fit of its own: the T-pose schedule, in one call
        project.set_current_fit(4, first)  # the user keeps the earlier fit: "fits" starts from it, not the latest
        np.testing.assert_allclose(start_params(project, [4], "fits").pose[0].numpy(), truth["pose"], atol=1e-6)
