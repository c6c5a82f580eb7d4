"""`deformlearn info` tells a fit that did not fail from one whose optimiser converged, and counts verdicts."""

from __future__ import annotations

import json

import numpy as np

from deformlearn.core.cli.parser import main
from deformlearn.core.project.records import FitRecord
from deformlearn.core.project.store import Project


def test_info_counts_optimiser_convergence_and_verdicts(tmp_path, capsys):
    project = Project.create(tmp_path / "p")
    image_id = project.add_image(project.root / "images" / "a.jpg", 640, 480)
    ids = [project.add_person(image_id, bbox=np.array([10.0 * i, 0, 100, 200], np.float32),
                              keypoints=np.ones((17, 3), np.float32), dense=None, source_key=f"p{i}") for i in range(5)]
    params = {"pose": np.zeros((23, 3), np.float32)}
    ended = [(True, "good", "converged"), (True, "poor", "converged"), (False, "good", "converged"),
             (False, "degenerate", "failed")]
    project.save_fits([FitRecord(ids[k], 1, params, {"error": 1.0, "converged": c, "quality": q}, status)
                       for k, (c, q, status) in enumerate(ended)])
    project.close()
    assert main(["info", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "fitted    3 (2 converged, 1 stopped at the step limit), 1 failed\n" in out
    assert "quality   2 good, 1 poor, 1 degenerate\n" in out
    assert main(["info", str(tmp_path / "p"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["fitted"], info["optimiser_converged"], info["stopped_at_step_limit"]) == (3, 2, 1)
    assert info["quality"] == {"good": 2, "poor": 1, "degenerate": 1, "not_judged": 0}
