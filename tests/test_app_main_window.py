"""Main window: selecting a person drives the image view and the 3D viewport; the people list is lazy."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from deformlearn.app.people_model import PAGE_SIZE, PeopleFilter, column_of
from deformlearn.core.project.store import Project
from tests.app_support import make_large_project, make_project


def test_selecting_a_person_updates_image_view_and_viewport(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    assert win.people.model.rowCount() == 6
    assert win.scene is not None and win.scene.pid == win.people.current_person()
    pid = win.people.model.person_id(1)
    with qtbot.waitSignal(win.sceneShown, check_params_cb=lambda shown: shown == pid, timeout=5000):
        win.people.select_row(1)
    assert win.scene.pid == pid
    assert win.image_view.scene_data is win.scene
    assert win.image_view.image_item.image is not None and win.image_view.image_item.image.shape == (240, 320, 3)
    # a fitted person: the projected fit lies on its dense points (the fit is the generating one)
    seg = win.scene.residual_segments()
    assert len(seg) == 40 and np.abs(seg[:, 0] - seg[:, 1]).max() < 1e-3
    # the viewport shows the fitted mesh in the viewer frame, and renders it
    np.testing.assert_allclose(win.viewport.canvas.vertices, win.scene.fit_vertices_body)
    win.viewport.canvas.render_frame()
    assert win.viewport.canvas._frame is not None
    # an unfitted person shows the template at rest, no projected fit
    win.people.select_row(5)
    assert win.scene.fit_vertices_image is None
    np.testing.assert_allclose(win.viewport.canvas.vertices, win.loader.template.rest_vertices, atol=1e-6)


def test_overlays_toggle_and_views_change(make_window, small_project) -> None:
    win = make_window(small_project)
    iv = win.image_view
    assert len(iv.points_item.data) == 40
    iv.show_points.setChecked(False)
    assert len(iv.points_item.data) == 0
    iv.fit_style.setCurrentText("wireframe")
    x, _ = iv.wire_item.getData()
    assert x is not None and len(x) > 0
    iv.show_residuals.setChecked(True)
    x, _ = iv.residual_item.getData()
    assert len(x) == 80
    iv.fit_style.setCurrentText("parts")
    assert iv.silhouette_item.image is not None and iv.silhouette_item.image[..., 3].any()
    cam = win.viewport.canvas.camera
    win.viewport.set_view("top")
    assert cam.elevation == 90
    win.viewport.set_view("side")
    assert (cam.azimuth, cam.elevation) == (90, 0)


def test_people_list_is_lazy_sorts_and_filters(make_window, tmp_path, small_project) -> None:
    big = make_large_project(tmp_path / "big", str(small_project.parent / "proj_template.npz"), 3 * PAGE_SIZE + 10)
    win = make_window(big)
    model = win.people.model
    assert model.rowCount() == PAGE_SIZE and model.canFetchMore()
    model.fetchMore()
    assert model.rowCount() == 2 * PAGE_SIZE
    assert model.ensure_loaded(3 * PAGE_SIZE + 9) and not model.canFetchMore()
    model.sort(1, Qt.SortOrder.DescendingOrder)
    assert model.data(model.index(0, 1)) == f"p{3 * PAGE_SIZE + 9:06d}"
    model.set_filter(PeopleFilter(search="p00001"))
    assert model.rowCount() == 10


def test_people_panel_filters_by_fit_status(make_window, small_project) -> None:
    from deformlearn.core.project.store import FitRecord

    win = make_window(small_project)
    panel, model = win.people, win.people.model
    panel.fit_status.setCurrentText("fitted")
    assert model.filter.fit_status == "fitted"
    # the test fits record no "converged" metric: the list says "fitted", never "converged"
    fit_column = column_of("fit_status")
    assert [model.data(model.index(r, fit_column)) for r in range(model.rowCount())] == ["fitted"] * 3
    panel.fit_status.setCurrentText("unfitted")
    unfitted = [model.person_id(r) for r in range(model.rowCount())]
    assert len(unfitted) == 3 and win.scene.pid == unfitted[0]
    with Project.open(small_project) as other:  # another connection fails a fit; the list shows it on reload
        other.save_fits([FitRecord(unfitted[0], 1, {"x": np.zeros(1)}, {"error": 50.0}, "failed")])
    panel.fit_status.setCurrentText("failed")
    assert model.rowCount() == 1 and model.person_id(0) == unfitted[0]
    panel.status.setCurrentText("accepted")
    assert model.rowCount() == 0
    panel.status.setCurrentText("all")
    panel.fit_status.setCurrentText("all")
    assert model.rowCount() == 6


def test_open_100k_people_project_is_fast(make_window, tmp_path, small_project, qtbot) -> None:
    big = make_large_project(tmp_path / "huge", str(small_project.parent / "proj_template.npz"), 100_000)
    win = make_window()
    started = time.perf_counter()
    with qtbot.waitSignal(win.projectChanged, timeout=5000):
        win.open_project(big)
    opened = time.perf_counter() - started
    assert win.people.model.rowCount() == PAGE_SIZE
    assert win.people.count_label.text().startswith("100,000")
    print(f"open 100,000-person project: {opened:.3f} s")
    assert opened < 5.0


def test_accept_reject_undo_reach_the_database(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    win.people.select_row(0)
    first = win.people.current_person()
    win.activateWindow()
    win.people.table.setFocus()
    win.actions_by_name["accept"].trigger()
    second = win.people.current_person()
    assert second != first  # accepting moves on
    win.actions_by_name["reject"].trigger()
    with Project.open(small_project) as other:  # a second connection sees the committed writes
        assert other.person(first).status == "accepted"
        assert other.person(second).status == "rejected"
    win.actions_by_name["undo"].trigger()
    with Project.open(small_project) as other:
        assert other.person(second).status == "unreviewed"
        assert [r.status for r in other.review_history(second)] == ["rejected", "cleared"]
    assert win.people.current_person() == second
    review_column = column_of("status")
    assert win.people.model.data(win.people.model.index(0, review_column)) == "accepted"
    win.actions_by_name["next"].trigger()
    win.actions_by_name["previous"].trigger()
    assert win.people.current_person() == second


def test_bulk_reject_over_threshold_is_one_undo_step(make_window, small_project) -> None:
    win = make_window(small_project)
    assert win.reject_over_threshold(1.5) == 2  # fits have errors 1, 2, 3
    with Project.open(small_project) as other:
        assert sorted(other.person_ids(status="rejected").tolist()) == [2, 3]
    win.undo()
    with Project.open(small_project) as other:
        assert other.count_persons(status="rejected") == 0


def test_people_rows_show_image_thumbnails(make_window, small_project) -> None:
    from PySide6.QtGui import QPixmap

    from deformlearn.app.people_model import THUMB_PX

    win = make_window(small_project)
    model = win.people.model
    thumb = model.data(model.index(0, 1), Qt.ItemDataRole.DecorationRole)
    # the crop is the person's 200 x 220 box made square with a margin (256 px), clipped to the 240 px image
    assert isinstance(thumb, QPixmap) and THUMB_PX > 24
    assert (thumb.width(), thumb.height()) == (THUMB_PX, round(THUMB_PX * 240 / 256))


def test_fit_summary_hides_errors_of_what_the_person_lacks_and_shows_the_verdict() -> None:
    from deformlearn.app.image_view import fit_summary

    none, some = np.zeros((17, 3)), np.zeros((17, 3))
    some[:5, 2] = 2
    metrics = {"error": 4.37, "keypoint_error_px": 0.0, "quality": "poor", "quality_flags": "dense_residual,pose"}
    assert fit_summary(metrics, none, 40) == "error 4.37 px — quality poor (dense_residual, pose)"
    assert fit_summary(metrics, some, 40) == "error 4.37 px — keypoint error 0 px — quality poor (dense_residual, pose)"
    assert fit_summary({"error": 2.0, "keypoint_error": 3.0}, some, 40) == "error 2 px — keypoint error 3 px"
    assert fit_summary({"error": 2.0, "keypoint_error_px": 3.0, "num_keypoints": 0.0}, some, 40) == "error 2 px"
    # a keypoint-only person: core stores a dense error of 0 px for it, which is never shown
    kp_only = {"error": 0.0, "keypoint_error_px": 5.5, "num_points": 0.0, "quality": "good", "quality_flags": ""}
    assert fit_summary(kp_only, some, 0) == "keypoint error 5.5 px — quality good"


def test_app_takes_project_as_an_option_and_starts_the_fit_process_with_it(small_project, tiny_template, qtbot,
                                                                          monkeypatch, tmp_path, capsys) -> None:
    import sys

    from PySide6.QtCore import QSettings

    from deformlearn.app import registration_worker
    from deformlearn.app.main import launch, main
    from deformlearn.core.cli.parser import build_parser

    # `deformlearn app --project P` as `deformlearn screenshots ... --project P` (the positional form stays)
    args = build_parser().parse_args(["app", "--project", str(small_project)])
    assert main(args=build_parser().parse_args(["app", str(tmp_path), "--project", str(small_project)])) == 2
    assert "two projects given" in capsys.readouterr().err
    registration_worker.stop_fit_process()  # one an earlier test started
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # launch() installs its own; restored afterwards
    native, user = QSettings.Format.NativeFormat, QSettings.Scope.UserScope
    QSettings.setPath(native, user, str(tmp_path))  # this run's settings land in the temp folder
    try:
        win = launch(args)
        qtbot.addWidget(win)
        qtbot.waitUntil(lambda: win.project is not None and win.scene is not None, timeout=30_000)
        assert win.project.root == small_project and not registration_worker.fit_process_alive()
        # the fit process starts once the project shows, so the first Fit need not wait for its engine import
        qtbot.waitUntil(registration_worker.fit_process_alive, timeout=15_000)
        # steps set for one project (and a fit's end) do not carry over to the next project
        default_steps = win.settings.registration.steps
        win.registration.steps.setValue(default_steps + 7)
        win._fit_finished({})
        win.open_project(make_project(tmp_path / "other", tiny_template, n_people=2))
        assert win.registration.steps.value() == default_steps == win.settings.registration.steps
        win.close()
    finally:
        QSettings.setPath(native, user, str(Path.home() / ".config"))
    process = registration_worker.fit_process()
    registration_worker.stop_fit_process()  # what the app does when it quits
    assert not process.is_alive() and not registration_worker.fit_process_alive()


def test_the_status_line_under_the_image_wraps_instead_of_being_cut(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    info = win.image_view.info
    text = info.text()
    assert "keypoints" in text and info.toolTip() == text
    line = info.fontMetrics().height()
    narrow = info.fontMetrics().horizontalAdvance(text) // 2  # half the line's width: it needs two lines
    assert info.wordWrap() and info.heightForWidth(narrow) >= 2 * line
    win.resize(700, 700)  # a narrow window: the label grows to the lines it needs
    qtbot.waitUntil(lambda: info.height() >= info.heightForWidth(info.width()), timeout=5000)


def _spawned_children() -> list[int]:
    """Pids of this process's children started by multiprocessing's spawn (the fit process), from /proc."""
    import os

    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
        if ppid == os.getpid() and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return out


def test_every_window_starts_the_fit_process_and_ends_it_when_it_closes(make_window, small_project, qtbot,
                                                                        monkeypatch) -> None:
    from deformlearn.app import registration_worker, window_fitting

    registration_worker.stop_fit_process()  # one an earlier test started
    assert _spawned_children() == []
    monkeypatch.setattr(window_fitting, "FIT_PROCESS_DELAY_MS", 200)
    win = make_window(small_project)  # no launch(): the window itself starts the fit process for its project
    qtbot.waitUntil(registration_worker.fit_process_alive, timeout=15_000)
    assert _spawned_children() == [registration_worker.fit_process().pid]
    win.close()
    assert not registration_worker.fit_process_alive() and _spawned_children() == []
    # a window closed before its start delay ran out starts none later
    win = make_window(small_project)
    win.close()
    qtbot.wait(600)
    assert not registration_worker.fit_process_alive() and _spawned_children() == []


def test_the_default_layout_shows_the_people_columns_up_to_fit_without_scrolling(make_window, small_project,
                                                                                   qtbot) -> None:
    win = make_window(small_project)  # fresh settings: the default layout
    table = win.people.table
    fit = column_of("fit_status")
    qtbot.waitUntil(lambda: table.viewport().width() >= table.columnViewportPosition(fit) + table.columnWidth(fit),
                    timeout=5000)
    assert table.columnViewportPosition(0) == 0  # not scrolled: every column up to fit shows whole
    assert [table.isColumnHidden(c) for c in range(fit + 1)] == [False] * (fit + 1)
    # the review and fit columns hold their words whole ("unreviewed", "fitted", "not fitted"), margins and all
    for column in (column_of("status"), fit):
        assert table.sizeHintForColumn(column) <= table.columnWidth(column)
    margins = table.sizeHintForColumn(column_of("status")) - table.fontMetrics().horizontalAdvance("unreviewed")
    for column, word in ((column_of("fit_quality"), "degenerate"), (fit, "converged"), (fit, "step limit")):
        assert table.fontMetrics().horizontalAdvance(word) + margins <= table.columnWidth(column)
