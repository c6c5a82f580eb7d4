"""Builders shared by the app tests: a small project made through the store API with known fits.

People are the template posed a little, turned by a known camera and projected into a grey image; their
dense points are projected vertices (so the correspondences are exact) and keypoints come from the
template's keypoint regressor.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from deformlearn.core.body.camera import FRONTAL_ROTATION_VALUES
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.template import Template, save_template
from deformlearn.core.densepose.correspondence import template_key
from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.project.records import FitRecord
from deformlearn.core.project.store import Project

IMAGE_SIZE = (320, 240)  # W, H


def person_params(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A plausible fit: small random pose, unit scales, frontal camera, person filling most of the frame."""
    pose = (rng.normal(0, 0.15, (23, 3))).astype(np.float32)
    return {"pose": pose, "scales": np.ones(24, np.float32),
            "rotation": np.array(FRONTAL_ROTATION_VALUES, np.float32), "scale": np.array(0.9, np.float32),
            "translation": rng.uniform(-0.05, 0.05, 2).astype(np.float32)}


def make_project(root: Path, template: Template, n_people: int = 6, n_points: int = 40, fitted: int = 3,
                 seed: int = 0) -> Path:
    """A project of `n_people` (one image each) registered to `template`; the first `fitted` have fits whose
    metrics["error"] is 1.0, 2.0, ... px. Returns the project folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tpl_file = root.parent / f"{root.name}_template.npz"
    save_template(template, tpl_file)
    rng = np.random.default_rng(seed)
    body = BodyModel(template)
    W, H = IMAGE_SIZE
    with Project.create(root, template=str(tpl_file)) as project:
        key = template_key(template)
        for i in range(n_people):
            params = person_params(rng)
            with torch.no_grad():
                out = body(torch.from_numpy(params["pose"])[None], torch.from_numpy(params["scales"])[None])
            cam_v = out.vertices[0].numpy() @ params["rotation"].T
            cam_k = out.keypoints[0].numpy() @ params["rotation"].T
            bbox = np.array([W / 2 - 100, H / 2 - 110, 200, 220], np.float32)
            centre, half = bbox[:2] + bbox[2:] / 2, bbox[2:].max() / 2
            to_px = lambda c: (params["scale"] * c[:, :2] + params["translation"]) * half + centre  # noqa: E731
            verts_px = to_px(cam_v)
            idx = rng.choice(len(verts_px), n_points, replace=False)
            kp = np.concatenate([to_px(cam_k), np.full((17, 1), 2.0)], 1).astype(np.float32)
            image = np.full((H, W, 3), 90 + 10 * i, np.uint8)
            for x, y in verts_px[::7].astype(int):
                cv2.circle(image, (int(x), int(y)), 1, (200, 180, 160), -1)
            image_file = root / f"person_{i:03d}.png"
            cv2.imwrite(str(image_file), image)
            image_id = project.add_image(image_file, W, H)
            dense = DensePoints(xy=verts_px[idx], part=template.vertex_part[idx], uv=template.vertex_uv[idx])
            pid = project.add_person(image_id, bbox=bbox, keypoints=kp, dense=dense, source_key=f"test#{i}",
                                     name=f"person {i:03d}")
            project.set_correspondences(pid, key, idx, np.zeros(n_points, np.float32))
            project.set_ground_truth(pid, params)
            if i < fitted:
                project.save_fits([FitRecord(pid, 0, params, {"error": float(i + 1)}, "converged")])
    return root


def make_large_project(root: Path, template_key: str, n_people: int) -> Path:
    """A project of `n_people` light people (no dense points, shared image file) to time opening the list."""
    root = Path(root)
    with Project.create(root, template=template_key) as project:
        image_id = project.add_image(root / "none.png", 640, 480)
        kp = np.zeros((17, 3), np.float32)
        bbox = np.array([10, 10, 100, 200], np.float32)
        with project.transaction():
            for i in range(n_people):
                kp[0, 0] = i  # people are told apart by content: each needs its own annotation
                project.add_person(image_id, bbox=bbox, keypoints=kp, dense=None, source_key=f"big#{i}",
                                   name=f"p{i:06d}")
    return root


# ---- Qt fixtures (napari style: one window factory that closes what it made) ------------------------------
import pytest  # noqa: E402

from deformlearn.app.qt_env import prepare_environment  # noqa: E402

prepare_environment()  # before pytest-qt makes the QApplication


@pytest.fixture
def app_errors():
    """Error dialogs are recorded here instead of blocking the test."""
    from deformlearn.app import errors

    errors.captured = []
    yield errors.captured
    errors.captured = None


@pytest.fixture
def make_window(qtbot, tmp_path, app_errors):
    """Factory: make_window(project=None) -> MainWindow with settings in a temp ini file; all closed after."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from deformlearn.app.main_window import MainWindow

    made = []
    before = set(QApplication.topLevelWidgets())

    def factory(project: Path | None = None):
        qsettings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        win = MainWindow(qsettings=qsettings)
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        if project is not None:
            win.open_project(project)
        return win

    yield factory
    for win in made:
        win.close()
        win.deleteLater()
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    assert not leaked, f"widgets left open: {leaked}"


@pytest.fixture(scope="session")
def tiny_template():
    from tests.tiny_template import make_tiny_template

    return make_tiny_template()


@pytest.fixture
def small_project(tmp_path, tiny_template) -> Path:
    return make_project(tmp_path / "proj", tiny_template)
