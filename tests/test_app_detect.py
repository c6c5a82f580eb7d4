"""Project ▸ Detect keypoints: a clear dialog when the pose detector is not installed; with it installed,
keypoints for the people that have none on a real photo, off the GUI thread, and a cancel that writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtWidgets import QPushButton

from deformlearn.app.people_model import column_of
from deformlearn.core.project.store import Project


def detector_installed() -> bool:
    from deformlearn.core.detection import DetectorNotInstalled, detector_python

    try:
        detector_python()
    except DetectorNotInstalled:
        return False
    return True


def test_detect_without_the_detector_says_how_to_install_it(make_window, small_project, app_errors, tmp_path,
                                                            monkeypatch) -> None:
    empty = tmp_path / "no-detector"
    empty.mkdir()
    monkeypatch.setenv("DEFORMLEARN_DETECTOR_ENV", str(empty))
    win = make_window(small_project)
    win.actions_by_name["detect_keypoints"].trigger()
    assert not win.detector.is_running()
    [(title, text)] = app_errors
    assert title == "The pose detector is not installed"
    assert str(empty) in text and "deformlearn detector install" in text and "DEFORMLEARN_DETECTOR_ENV" in text


def coco_project(root, template_file: str, coco_dir, n_people: int):
    """A project of the first `n_people` COCO people with 12+ keypoints, stored WITHOUT keypoints; returns the
    folder and each person's true (17, 3) keypoints."""
    data = json.loads((coco_dir / "test_coco.json").read_text())
    images = {i["id"]: i for i in data["images"]}
    annotations = [a for a in data["annotations"] if a["num_keypoints"] >= 12][:n_people]
    truth = {}
    with Project.create(root, template=template_file) as project:
        for k, ann in enumerate(annotations):
            image = images[ann["image_id"]]
            image_id = project.add_image(coco_dir / image["file_name"], image["width"], image["height"])
            pid = project.add_person(image_id, bbox=np.array(ann["bbox"], np.float32), keypoints=np.zeros((17, 3)),
                                     dense=None, source_key=f"coco#{ann['id']}", name=f"coco {k}")
            truth[pid] = np.array(ann["keypoints"], np.float32).reshape(17, 3)
    return root, truth


@pytest.mark.skipif(not detector_installed(), reason="the pose detector is not installed (deformlearn detector install)")
def test_detect_keypoints_on_a_real_photo_and_cancel(make_window, small_project, shared_data, tmp_path, qtbot,
                                                     app_errors) -> None:
    root, truth = coco_project(tmp_path / "coco", str(small_project.parent / "proj_template.npz"),
                               shared_data / "coco", 3)
    win = make_window(root)
    # cancelled at once: nothing is written
    with qtbot.waitSignal(win.detector.done, timeout=120_000) as done:
        win.actions_by_name["detect_keypoints"].trigger()
        assert win.detector.is_running() and win.detector.dialog.isVisible()
        win.detector.dialog.findChild(QPushButton).click()  # the dialog's Cancel button
    assert done.args == [None] and "cancelled" in win.statusBar().currentMessage()
    with Project.open(root) as other:
        assert all(not (other.person(pid).keypoints[:, 2] > 0).any() for pid in truth)
    # a whole run: every person gets keypoints near COCO's own annotation, and the list shows them
    first = min(truth)
    with qtbot.waitSignal(win.detector.done, timeout=300_000) as done:
        win.actions_by_name["detect_keypoints"].trigger()
    report = done.args[0]
    assert report["people"] == 3 and report["found"] >= 2, report
    with Project.open(root) as other:
        kp, height = other.person(first).keypoints, float(other.person(first).bbox[3])
    both = (kp[:, 2] > 0) & (truth[first][:, 2] > 0)
    error = np.linalg.norm(kp[both, :2] - truth[first][both, :2], axis=1)
    print(f"detected {both.sum()} keypoints of person {first}: median error {np.median(error):.1f} px "
          f"({np.median(error) / height:.1%} of the box height)")
    assert both.sum() >= 10 and np.median(error) < 0.08 * height
    model = win.people.model
    keypoints_column = column_of("num_keypoints")
    assert model.data(model.index(model.row_of(first), keypoints_column)) == str(int((kp[:, 2] > 0).sum()))
    assert win.detector.dialog is None and app_errors == []
