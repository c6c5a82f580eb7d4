"""`deformlearn info --people`: a line per person, named by image and index, sorted and filtered like the app."""

from __future__ import annotations

import json

import numpy as np

from deformlearn.core.cli.parser import main
from deformlearn.core.project.records import FitRecord
from deformlearn.core.project.store import Project


def test_info_lists_people_by_image_and_index_sorted_and_filtered(tmp_path, capsys):
    project = Project.create(tmp_path / "p")
    crowd = project.add_image(project.root / "images" / "crowd.jpg", 640, 480)
    alone = project.add_image(project.root / "images" / "alone.jpg", 640, 480)
    ids = [project.add_person(crowd, bbox=np.array([100.0 * i, 0, 90, 200], np.float32),
                              keypoints=np.ones((17, 3), np.float32), dense=None, source_key=f"c{i}") for i in range(3)]
    ids.append(project.add_person(alone, bbox=np.array([0, 0, 90, 200], np.float32),
                                  keypoints=np.ones((17, 3), np.float32), dense=None, source_key="a"))
    params = {"pose": np.zeros((23, 3), np.float32)}
    project.save_fits([FitRecord(ids[0], 1, params, {"error": 5.0, "quality": "poor",
                                                    "quality_flags": "dense_residual"}, "converged"),
                       FitRecord(ids[1], 1, params, {"error": 2.0, "quality": "good"}, "converged")])
    project.close()

    assert main(["info", str(tmp_path / "p"), "--people", "--sort", "error"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = lines[lines.index(next(x for x in lines if x.startswith("people    4 people"))) + 1:]
    fitted = [x for x in listed if "converged" in x]
    assert [int(x.split()[0]) for x in fitted] == [ids[1], ids[0]]  # lowest error first
    assert "crowd.jpg · 2 of 3" in fitted[0] and "converged, 2.00 px, good" in fitted[0]
    assert "poor (dense_residual)" in fitted[1]
    assert any("alone.jpg " in x and "not fitted" in x for x in listed)

    for listing in (["--people", "--fit", "good"], ["--fit", "good"]):  # --fit and --sort imply --people
        assert main(["info", str(tmp_path / "p"), *listing, "--json"]) == 0
        people = json.loads(capsys.readouterr().out)["people"]
        assert [(p["id"], p["label"], p["fit_quality"]) for p in people] == [(ids[1], "crowd.jpg · 2 of 3", "good")]
    assert main(["info", str(tmp_path / "p"), "--sort", "error"]) == 0
    assert "people    4 people, by error:" in capsys.readouterr().out


def test_building_the_command_line_does_not_import_scipy():
    # every command's options are built for any `deformlearn` call (--help, app): info's must stay light
    import subprocess
    import sys

    code = ("import sys; from deformlearn.core.cli.parser import build_parser; build_parser(); "
            "print(sorted(m for m in ('scipy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
