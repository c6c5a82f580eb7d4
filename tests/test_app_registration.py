"""Registration panel: a fit in the worker thread emits progress, animates the views and saves fits."""

from __future__ import annotations

import numpy as np

from deformlearn.app.registration_panel import FIT_TOOLTIPS
from deformlearn.app.registration_worker import PROGRESS_HZ
from deformlearn.core.project.store import FitRecord, Project
from deformlearn.core.registration import PipelineProgress


def test_fit_selected_emits_progress_animates_and_saves(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    win.people.select_row(4)  # an unfitted person
    pid = win.people.current_person()
    win.registration.steps.setValue(30)
    win.registration.orientations.setValue(1)
    events: list[PipelineProgress] = []
    win.runner.progress.connect(events.append)
    shown_before = win.viewport.canvas.vertices.copy()
    with qtbot.waitSignal(win.runner.finished, timeout=120_000) as done:
        win.fit("selected")
        assert win.registration.cancel_button.isEnabled()
    summary = done.args[0]
    assert summary == {**summary, "fitted": 1, "failed": 0, "cancelled": False}
    # progress arrives in order and ends at the total, throttled to what the eye needs (not every step)
    steps = [e.step for e in events]
    assert steps == sorted(set(steps)) and steps[-1] == events[-1].total == 30
    assert len(events) < 30 and len(events) <= summary["seconds"] * PROGRESS_HZ + 2
    assert all(e.watched_pid == pid and e.vertices.shape == shown_before.shape for e in events)
    assert win.registration.bar.value() == 30
    plot = win.registration.plot  # labelled axes, a colour per loss term, the legend beside the data
    assert "total" in plot.names() and len(plot.names()) > 1
    assert plot.plot.getAxis("left").labelText and plot.plot.getAxis("bottom").labelText
    assert len({item.opts["pen"].color().name() for item in plot.plot.listDataItems()}) == len(plot.names())
    assert plot.legend.geometry().left() >= plot.widget.geometry().right()
    assert all(name in plot.legend.text() for name in plot.names())
    with Project.open(small_project) as other:
        fit = other.latest_fit(pid)
        assert fit is not None and fit.status == "converged" and np.isfinite(fit.metrics["error"])
    # the views now show the stored fit of the selected person
    assert win.scene.pid == pid and win.scene.fit_vertices_image is not None
    assert not np.allclose(win.viewport.canvas.vertices, shown_before)
    assert not win.registration.cancel_button.isEnabled()


def test_cancel_stops_the_fit_and_saves_nothing(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    win.people.select_row(5)
    pid = win.people.current_person()
    win.registration.steps.setValue(100000)
    with qtbot.waitSignal(win.runner.progress, timeout=60_000):
        win.fit("selected")
    with qtbot.waitSignal(win.runner.finished, timeout=60_000) as done:
        win.registration.cancel_button.click()
    assert done.args[0]["cancelled"] is True
    with Project.open(small_project) as other:
        assert other.latest_fit(pid) is None


def test_worker_crash_becomes_a_dialog_and_the_window_survives(make_window, small_project, qtbot, app_errors) -> None:
    win = make_window(small_project)
    with Project.open(small_project) as other:  # break one person's correspondences: N points, N-1 vertices
        other.set_correspondences(1, win.loader.template_key, np.zeros(3, np.int64), np.zeros(3, np.float32))
    win.people.select_row(0)
    with qtbot.waitSignal(win.runner.failed, timeout=60_000):
        win.fit("selected")
    assert app_errors and app_errors[-1][0] == "Registration failed"
    assert "40 dense points but 3 correspondences" in app_errors[-1][1]
    assert not win.runner.is_running() and win.registration.buttons["all"].isEnabled()
    win.people.select_row(2)  # the window still works
    assert win.scene.pid == win.people.current_person()


def test_unfitted_scope_lists_people_without_fits(make_window, small_project) -> None:
    win = make_window(small_project)
    assert win.people_for_scope("unfitted") == [4, 5, 6]
    assert win.people_for_scope("all") == [1, 2, 3, 4, 5, 6]


def test_fit_all_skips_people_without_dense_points_with_a_dialog(make_window, tmp_path, small_project, qtbot,
                                                                  app_errors) -> None:
    from tests.app_support import make_large_project

    big = make_large_project(tmp_path / "kp_only", str(small_project.parent / "proj_template.npz"), 1200)
    win = make_window(big)
    with qtbot.waitSignal(win.runner.finished, timeout=60_000) as done:
        win.fit("all")
    assert done.args[0]["fitted"] == 0 and len(done.args[0]["skipped"]) == 1200
    assert app_errors[-1][0] == "Some people were not fitted" and "1200 people have no dense points" in app_errors[-1][1]


def test_fit_all_refines_good_fits_and_fits_the_rest_from_the_t_pose(make_window, small_project, qtbot) -> None:
    with Project.open(small_project) as project:  # people 1-3 get good fits; 4-6 have none
        good = [FitRecord(pid, 0, project.ground_truth(pid), {"error": 0.5, "quality": "good"}, "converged")
                for pid in (1, 2, 3)]
        project.save_fits(good)
    win = make_window(small_project)
    win.registration.steps.setValue(30)  # from the T-pose: 15 stiff + 15 relaxed steps; a refinement: 15 relaxed
    win.registration.orientations.setValue(1)
    with qtbot.waitSignal(win.runner.finished, timeout=120_000) as done:
        win.registration.buttons["all"].click()
    assert done.args[0]["fitted"] == 6
    with Project.open(small_project) as project:
        steps = {pid: project.latest_fit(pid).metrics["steps"] for pid in range(1, 7)}
    assert all(steps[pid] <= 15 for pid in (1, 2, 3)) and all(steps[pid] > 15 for pid in (4, 5, 6)), steps
    for scope, button in win.registration.buttons.items():  # each button says what it does
        assert button.toolTip() == FIT_TOOLTIPS[scope]
    assert "good current fit" in FIT_TOOLTIPS["all"] and "T-pose" in FIT_TOOLTIPS["selected"]


def test_the_progress_throttle_keeps_its_rate_when_reports_come_a_little_faster(monkeypatch) -> None:
    from deformlearn.app import registration_worker

    clock = [0.0]
    monkeypatch.setattr(registration_worker.time, "monotonic", lambda: clock[0])
    sent: list[int] = []
    progress = registration_worker._throttled(lambda e: sent.append(e.step), hz=30)

    def report(step: int, total: int = 10_000) -> None:
        progress(PipelineProgress(0, 1, step, total, {}, None, None))

    for step in range(40):  # a report every 25 ms for 1 s: under "1/30 s since the last", only every second
        clock[0] = step * 0.025
        report(step)
    assert 29 <= len(sent) <= 31
    clock[0] += 2.0  # after a pause the beat starts afresh: no burst of the events it did not send
    for k in range(4):
        clock[0] += 0.001
        report(100 + k)
    assert sent[-1] == 100 and 101 not in sent
    report(10_000)  # a chunk's last event always passes
    assert sent[-1] == 10_000
