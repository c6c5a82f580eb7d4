"""Import of each real sample through the UI path: Project ▸ Import action, its file dialogs, the core importer."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from deformlearn.core.body.template import save_template
from deformlearn.core.project.store import Project


@pytest.fixture
def empty_project(tmp_path, tiny_template):
    save_template(tiny_template, tmp_path / "tiny.npz")
    Project.create(tmp_path / "imp", template=str(tmp_path / "tiny.npz")).close()
    return tmp_path / "imp"


def _import_via_menu(win, qtbot, monkeypatch, kind: str, source, images=None, trust: bool = False) -> int:
    """Trigger Project ▸ Import ▸ kind with the dialogs answering `source`, `images` and `trust` (every yes/no
    question; a folder dialog beyond those is cancelled), wait for the import thread to finish; return how many
    people it added."""
    folders = [str(source)] if source.is_dir() else []
    if images is not None:
        folders.append(str(images))
    asked: list[str] = []

    def folder_dialog(_parent, caption, *_args, **_kwargs) -> str:
        asked.append(caption)
        return folders.pop(0) if folders else ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(source), "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(folder_dialog))
    answer = QMessageBox.StandardButton.Yes if trust else QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: answer))
    before = win.project.count_persons()
    with qtbot.waitSignal(win.importer.finished, timeout=60_000):
        win.actions_by_name[f"import_{kind}"].trigger()
    assert not folders, f"dialogs asked {asked}; answers left over: {folders}"
    return win.project.count_persons() - before


def test_every_real_sample_imports_through_the_menu(make_window, empty_project, shared_data, monkeypatch,
                                                    app_errors, qtbot) -> None:
    dp, coco = shared_data / "densepose", shared_data / "coco"
    win = make_window(empty_project)
    assert _import_via_menu(win, qtbot, monkeypatch, "iuv", dp) >= 2
    assert _import_via_menu(win, qtbot, monkeypatch, "coco-keypoints", coco / "test_coco.json", coco) > 0
    added = _import_via_menu(win, qtbot, monkeypatch, "densepose-pickle", dp / "demo_dp_single_ann.pkl")
    assert added == 1
    assert app_errors == []
    # the same file again adds nobody
    assert _import_via_menu(win, qtbot, monkeypatch, "densepose-pickle", dp / "demo_dp_single_ann.pkl") == 0
    total = win.project.count_persons()
    assert win.people.model.rowCount() == total
    # every imported person with dense points shows them on its image, inside the image
    shown = 0
    for row in range(total):
        win.people.select_row(row)
        s = win.scene
        assert s is not None and s.image is not None
        if s.num_points:
            h, w = s.image.shape[:2]
            assert (s.dense_xy >= -0.5).all() and (s.dense_xy[:, 0] < w).all() and (s.dense_xy[:, 1] < h).all()
            assert (s.dense_vertex >= 0).all()  # correspondences came with the import
            shown += 1
    assert shown >= 3
    win.people.select_row(0)
    assert win.scene.iuv is not None and win.image_view.iuv_item.image is not None


def test_iuv_with_photos_in_another_folder_and_openpose_folders(make_window, empty_project, shared_data, tmp_path,
                                                              monkeypatch, app_errors, qtbot) -> None:
    import json
    import shutil

    dp = shared_data / "densepose"
    iuv, photos = tmp_path / "iuv", tmp_path / "photos"
    iuv.mkdir()
    photos.mkdir()
    for name in ("demo_im_IUV.png", "demo_im_INDS.png", "seated_im_IUV.png", "seated_im_INDS.png"):
        shutil.copy(dp / name, iuv / name)
    for name in ("demo_im.jpg", "seated_im.jpg"):
        shutil.copy(dp / name, photos / name)
    win = make_window(empty_project)
    assert _import_via_menu(win, qtbot, monkeypatch, "iuv", iuv, images=photos) >= 2
    win.people.select_row(0)
    assert win.scene.image is not None and win.scene.iuv is not None  # the photo came from the other folder
    # OpenPose keypoint files (COCO-18 here), photos beside them
    openpose = tmp_path / "openpose"
    openpose.mkdir()
    shutil.copy(photos / "seated_im.jpg", openpose / "seated_im.jpg")
    pose = [v for k in range(18) for v in (200.0 + 5 * k, 150.0 + 20 * k, 0.9)]
    (openpose / "seated_im_keypoints.json").write_text(json.dumps(
        {"version": 1.3, "people": [{"pose_keypoints_2d": pose}]}))
    assert _import_via_menu(win, qtbot, monkeypatch, "openpose", openpose) == 1
    assert app_errors == []


def test_densepose_results_import_and_bad_input_dialog(make_window, empty_project, shared_data, monkeypatch,
                                                       app_errors, qtbot) -> None:
    dp, coco = shared_data / "densepose", shared_data / "coco"
    win = make_window(empty_project)
    # results whose images are not at hand: the import fails as a dialog, the project is unchanged
    assert _import_via_menu(win, qtbot, monkeypatch, "densepose-results", dp / "example_results.json", coco) == 0
    assert app_errors and app_errors[-1][0].startswith("DensePose results JSON")
    assert "example_results.json" in app_errors[-1][1] or "image" in app_errors[-1][1]
    # a pickle the user does not trust is refused with a dialog
    assert _import_via_menu(win, qtbot, monkeypatch, "detectron2-dump", dp / "demo_dp_single_ann.pkl") == 0
    assert "pickle" in app_errors[-1][1].lower()
    # the same results, leaving out detections whose image is missing (the CLI's --skip-missing-images)
    errors = len(app_errors)
    assert _import_via_menu(win, qtbot, monkeypatch, "densepose-results", dp / "example_results.json", coco,
                            trust=True) == 1
    assert len(app_errors) == errors and win.people.model.rowCount() == 1


def test_import_runs_on_a_worker_thread_with_its_own_project(make_window, empty_project, shared_data,
                                                             monkeypatch, qtbot, app_errors) -> None:
    import threading

    from PySide6.QtWidgets import QApplication

    from deformlearn.app import import_actions

    win = make_window(empty_project)
    assert win.people.model.rowCount() == 0
    release, seen = threading.Event(), {}
    real = import_actions.import_into_project

    def held_import(project, *args):  # the real import, held until the test has looked at the busy window
        seen.update(thread=threading.get_ident(), project=project)
        assert release.wait(30)
        return real(project, *args)

    monkeypatch.setattr(import_actions, "import_into_project", held_import)
    import_actions.run_import(win, "iuv", shared_data / "densepose")
    qtbot.waitUntil(lambda: "thread" in seen, timeout=10_000)
    assert seen["thread"] != threading.get_ident() and seen["project"] is not win.project
    assert win.importer.is_running() and win.importer.busy_bar.isVisible()
    assert QApplication.overrideCursor() is None  # no wait cursor: the window keeps handling events
    with pytest.raises(RuntimeError, match="already running"):
        import_actions.run_import(win, "iuv", shared_data / "densepose")
    with qtbot.waitSignal(win.importer.finished, timeout=60_000) as done:
        release.set()
    assert done.args[0]["added"] >= 2 and not win.importer.busy_bar.isVisible()
    assert win.people.model.rowCount() == done.args[0]["added"] == win.project.count_persons()
    assert win.scene is not None and app_errors == []
    # IUV people have no keypoints: the status bar says so and where to get some
    message = win.statusBar().currentMessage()
    assert f"{done.args[0]['added']} people have no keypoints" in message and "Detect keypoints" in message


def test_export_action_writes_the_selected_fits(make_window, tmp_path, tiny_template, monkeypatch,
                                                 app_errors) -> None:
    from PySide6.QtWidgets import QDialog

    from deformlearn.app.export_dialog import ExportDialog
    from tests.app_support import make_project

    project = make_project(tmp_path / "exp", tiny_template)
    win = make_window(project)
    assert win.actions_by_name["export"].isVisible()
    win.people.select_row(0)
    out = tmp_path / "out"
    chosen = []

    def answer(dialog) -> int:  # what a user does: keeps "selected", picks two formats, a folder
        assert dialog.scope() == "selected" and dialog.scope_buttons["accepted"].isEnabled() is False
        for fmt, box in dialog.format_boxes.items():
            box.setChecked(fmt in ("obj", "json"))
        dialog.folder_edit.setText(str(out))
        chosen.append(dialog.people())
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ExportDialog, "exec", answer)
    shown = []
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda *a, **k: shown.append(a[2])))
    win.actions_by_name["export"].trigger()
    assert app_errors == [] and chosen == [[1]]
    assert sorted(p.name for p in out.iterdir()) == ["person_000.json", "person_000.obj"]
    assert shown and "for 1 people" in shown[0]


def test_export_dialog_scopes_validation_and_file_names(make_window, tmp_path, tiny_template) -> None:
    from deformlearn.app.export_dialog import ExportDialog, file_stem, unique_stems
    from tests.app_support import make_project

    win = make_window(make_project(tmp_path / "exp", tiny_template))
    win.review.decide([2, 3], "accepted")
    dialog = ExportDialog(win.project, [], win)
    assert not dialog.scope_buttons["selected"].isEnabled() and dialog.scope() == "accepted"
    assert dialog.people() == [2, 3] and "(2)" in dialog.scope_buttons["accepted"].text()
    dialog.scope_buttons["fitted"].setChecked(True)
    assert dialog.people() == [1, 2, 3]
    assert dialog.validate() == "Choose a folder to export to."
    for box in dialog.format_boxes.values():
        box.setChecked(False)
    dialog.folder_edit.setText(str(tmp_path))
    dialog.accept()
    assert dialog.problem.text() == "Choose at least one format." and dialog.result() == 0
    dialog.close()
    assert file_stem("demo_im.jpg · 3 of 12", 7) == "demo_im_person3" and file_stem("a b.png", 1) == "a_b"
    assert file_stem("···", 5) == "person_000005"
    assert unique_stems({4: "x.jpg · 1 of 2", 9: "x.jpg · 1 of 2", 5: "y.png"}) == {
        4: "x_person1_id4", 9: "x_person1_id9", 5: "y"}


def test_closing_the_window_during_an_import_waits_for_the_import_only(make_window, empty_project, shared_data,
                                                                        qtbot) -> None:
    import time

    from deformlearn.app import import_actions

    win = make_window(empty_project)
    import_actions.run_import(win, "iuv", shared_data / "densepose")
    assert win.importer.is_running()
    started = time.perf_counter()
    win.close()  # waits for the import to commit
    # was: 60 s, the wait's limit: the worker's thread ran until the blocked GUI thread told it to quit
    assert time.perf_counter() - started < 30
    with Project.open(empty_project, readonly=True) as project:
        assert project.count_persons() >= 2
