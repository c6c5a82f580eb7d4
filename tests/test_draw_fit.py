"""`deformlearn draw --fit`: the fit over the photo and the body from the front and the side."""

from __future__ import annotations

import cv2
import numpy as np

from deformlearn.core.cli.parser import main
from deformlearn.core.project.importing import load_project_template
from deformlearn.core.project.records import FitRecord
from deformlearn.core.render.fit_overlay import draw_fit
from tests.round_project import make_round_project


def test_the_fit_at_the_truth_covers_the_persons_points_and_views_stand_beside(tmp_path) -> None:
    with make_round_project(tmp_path / "p", n=2, seed=1, builtin=True) as project:
        template = load_project_template(project)
        person = project.person(int(project.person_ids()[0]))
        truth = project.ground_truth(person.id)
    image = cv2.imread(person.image_file, cv2.IMREAD_COLOR)
    H, W = image.shape[:2]
    drawn = draw_fit(image, template, truth, person.bbox)
    assert drawn.shape == (H, W + 2 * H, 3) and drawn.dtype == np.uint8
    cols, rows = np.floor(person.dense.xy).astype(int).T
    changed = np.any(drawn[rows, cols] != image[rows, cols], axis=1)
    assert changed.mean() > 0.9  # the mesh lies on the person's annotated pixels
    far = np.ones((H, W), bool)
    x, y, w, h = person.bbox.astype(int)
    far[max(0, y - 4):y + h + 4, max(0, x - 4):x + w + 4] = False
    assert np.array_equal(drawn[:, :W][far], image[far])  # and nowhere far from its box
    for panel in (drawn[:, W:W + H], drawn[:, W + H:]):
        body = np.any(panel != 255, axis=2)
        assert 0.05 < body.mean() < 0.6  # a body on white in each view


def test_draw_fit_writes_the_picture_and_refuses_a_person_without_fit(tmp_path, capsys) -> None:
    root = tmp_path / "p"
    with make_round_project(root, n=2, seed=2, builtin=True) as project:
        first, second = (int(p) for p in project.person_ids())
        project.save_fits([FitRecord(first, 0, project.ground_truth(first), {"quality": "good"}, "converged")])
    out = tmp_path / "fit.png"
    assert main(["draw", str(root), "--person", str(first), "--fit", "--out", str(out)]) == 0
    assert cv2.imread(str(out)).shape[1] > cv2.imread(str(out)).shape[0] * 2
    assert "fit of round 0 (good)" in capsys.readouterr().out
    assert main(["draw", str(root), "--person", str(second), "--fit", "--out", str(tmp_path / "no.png")]) != 0
    assert f"person {second} has no fit to draw" in capsys.readouterr().err
    assert not (tmp_path / "no.png").exists()
