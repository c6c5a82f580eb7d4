"""Settings persist through QSettings; errors become dialogs; review keys work from the keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt

from deformlearn.app.settings import AppSettings
from deformlearn.core.project.store import Project


def test_settings_round_trip_and_recent_projects(tmp_path, make_window, small_project) -> None:
    ini = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    s = AppSettings(body_model="smpl", smpl_folder="/models/smpl", uv_processed_mat="/m/UV_Processed.mat", device="cpu")
    s.registration.steps = 123
    s.registration.w_dense = 500.0
    for i in range(12):
        s.add_recent(tmp_path / f"p{i}")
    s.save(ini)
    back = AppSettings.load(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert (back.body_model, back.smpl_folder, back.device) == ("smpl", "/models/smpl", "cpu")
    assert back.registration.steps == 123 and back.registration.w_dense == 500.0
    assert len(back.recent_projects) == 8 and back.recent_projects[0].endswith("p11")
    win = make_window(small_project)  # opening a project puts it first in the window's recent list, saved
    saved = AppSettings.load(win.qsettings)
    assert saved.recent_projects[0] == str(small_project.resolve())


def test_opening_a_non_project_is_a_dialog_not_a_traceback(make_window, tmp_path, app_errors) -> None:
    win = make_window()
    win.guarded("Open project", win.open_project, tmp_path)
    assert win.project is None
    title, text = app_errors[-1]
    assert title == "Open project failed" and "not a deformlearn project" in text
    assert "\nCheck" in text or "\nThe project" in text  # says what to do


def test_review_keys_from_the_keyboard(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    win.activateWindow()
    win.people.table.setFocus()
    qtbot.waitUntil(lambda: win.people.table.hasFocus(), timeout=2000)
    first = win.people.current_person()
    qtbot.keyClick(win.people.table, Qt.Key.Key_A)
    assert win.people.current_person() != first
    qtbot.keyClick(win.people.table, Qt.Key.Key_K)
    assert win.people.current_person() == first
    qtbot.keyClick(win.people.table, Qt.Key.Key_J)
    qtbot.keyClick(win.people.table, Qt.Key.Key_R)
    qtbot.keyClick(win.people.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    with Project.open(small_project) as other:
        assert other.person(first).status == "accepted"
        assert [r.status for r in other.review_history(first + 1)] == ["rejected", "cleared"]


def test_new_project_from_the_menu_opens_empty(make_window, tmp_path, monkeypatch, app_errors) -> None:
    from PySide6.QtWidgets import QFileDialog

    win = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path / "new")))
    win.actions_by_name["new_project"].trigger()
    assert app_errors == []
    assert win.project is not None and win.project.template == "builtin" and win.project.count_persons() == 0
    assert win.scene is None and win.people.model.rowCount() == 0
    # the SMPL body model without SMPL files: a dialog naming the problem, no project made
    win.settings.body_model, win.settings.smpl_folder = "smpl", str(tmp_path / "no_smpl_here")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path / "new2")))
    win.actions_by_name["new_project"].trigger()
    assert app_errors and app_errors[-1][0] == "New project failed"
    assert not (tmp_path / "new2" / "project.sqlite").exists()


def test_arrow_keys_stay_with_spin_boxes_and_move_in_the_list(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    win.activateWindow()
    spin = win.registration.steps
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    before = spin.value()
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert spin.value() == before + 1 and win.people.current_row() == 0
    win.people.table.setFocus()
    qtbot.waitUntil(win.people.table.hasFocus, timeout=2000)
    qtbot.keyClick(win.people.table, Qt.Key.Key_Down)
    assert win.people.current_row() == 1 and win.scene.pid == win.people.current_person()
    win.image_view.graphics.setFocus()
    qtbot.waitUntil(win.image_view.graphics.hasFocus, timeout=2000)
    qtbot.keyClick(win.image_view.graphics, Qt.Key.Key_Down)
    assert win.people.current_row() == 2


def test_launch_opens_the_project_given_on_the_command_line(small_project, qtbot, monkeypatch, tmp_path) -> None:
    import sys

    from deformlearn.app.main import launch, parse_args

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # launch() installs its own; restored afterwards
    native, user = QSettings.Format.NativeFormat, QSettings.Scope.UserScope
    QSettings.setPath(native, user, str(tmp_path))  # this run's settings land in the temp folder
    try:
        win = launch(parse_args([str(small_project)]))
        qtbot.addWidget(win)
        assert win.isVisible() and win.project is None  # the window shows first, the project follows
        qtbot.waitUntil(lambda: win.project is not None and win.scene is not None, timeout=30_000)
        assert win.project.root == small_project and win.people.model.rowCount() == 6
        win.close()
    finally:
        QSettings.setPath(native, user, str(Path.home() / ".config"))
    assert any(tmp_path.rglob("*.conf"))


def test_smpl_folder_without_a_model_is_refused_when_set(make_window, tmp_path) -> None:
    from deformlearn.app.settings_dialog import SettingsDialog

    win = make_window()
    dialog = SettingsDialog(win.settings, win)
    dialog.body_model.setCurrentText("smpl")
    assert not dialog.ok_button.isEnabled() and "folder" in dialog.problem.text()
    empty = tmp_path / "models"
    empty.mkdir()
    dialog.smpl_folder.setText(str(empty))
    assert not dialog.ok_button.isEnabled() and "no SMPL model found" in dialog.problem.text()
    assert str(empty) in dialog.problem.text()
    dialog.accept()
    assert dialog.result() == 0  # OK does not close it while the choice is wrong
    (empty / "smpl").mkdir()
    (empty / "smpl" / "SMPL_NEUTRAL.npz").write_bytes(b"")  # found by name; its content is read at project creation
    dialog.smpl_folder.setText(str(empty) + "/")  # choosing the folder again checks again
    assert dialog.ok_button.isEnabled() and dialog.problem.text() == ""
    dialog.uv_mat.setText(str(tmp_path / "missing.mat"))
    assert not dialog.ok_button.isEnabled() and "UV_Processed.mat" in dialog.problem.text()
    dialog.body_model.setCurrentText("builtin")
    assert dialog.ok_button.isEnabled()
    dialog.close()


def test_orientations_persist_and_weight_fields_explain_themselves(make_window, small_project) -> None:
    from deformlearn.app.help_overlay import WEIGHT_HELP

    win = make_window()
    panel = win.registration
    for name in ("w_dense", "w_kp", "w_scale", "w_joint", "w_det", "steps", "lr", "orientations"):
        assert getattr(panel, name).toolTip() == WEIGHT_HELP[name]
    assert "L_dense" in panel.w_dense.toolTip() and "backwards" in panel.w_joint.toolTip()
    panel.orientations.setValue(3)
    win._fit_finished({})  # what the end of a fit saves
    assert AppSettings.load(win.qsettings).registration.orientations == 3
    assert make_window().registration.orientations.value() == 3


def test_help_overlay_lists_the_shortcuts(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    overlay = win.help_overlay
    assert not overlay.isVisible()
    win.actions_by_name["help"].trigger()
    assert overlay.isVisible() and overlay.geometry() == win.rect()
    text = overlay.text.text()
    for expected in ("Getting started", "Accept", "Ctrl+Z", "Redo", "Ctrl+Shift+Z", "F1"):
        assert expected in text
    qtbot.keyClick(overlay, Qt.Key.Key_Escape)
    assert not overlay.isVisible()


def test_cuda_without_a_gpu_is_a_dialog_that_says_what_to_choose(make_window, small_project, app_errors) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    win = make_window(small_project)
    win.people.select_row(0)
    win.registration.device.setCurrentText("cuda")
    win.fit("selected")
    assert not win.runner.is_running()
    [(title, text)] = app_errors
    assert title == "Fit failed" and "torch sees no CUDA GPU" in text and "choose auto or cpu" in text
