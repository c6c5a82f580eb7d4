"""`deformlearn screenshots` tours a copy of the project: the user's files stay byte for byte as they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_screenshots_leave_the_project_byte_identical(small_project, tmp_path, qtbot, capsys, app_errors) -> None:
    from deformlearn.app import screenshots
    from deformlearn.core.project.store import Project

    with Project.open(small_project) as project:  # a decision the tour would overwrite if it used this project
        project.set_review(int(project.person_ids()[0]), "rejected", "bad fit")
    before = _digest(small_project)
    assert screenshots.main(str(tmp_path / "shots"), str(small_project)) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "01_main_window.png" in report["files"] and "10_after_accept.png" in report["files"]
    # the curation pictures: the gallery, a two-fit comparison (the tour re-fits a fitted person) and an image
    # of several people (this project has none: from a small synthetic project made in the tour's scratch)
    assert {"11_gallery.png", "12_multi_person_image.png", "16_two_fit_comparison.png"} <= set(report["files"])
    assert (tmp_path / "shots" / "10_after_accept.png").stat().st_size > 0
    assert _digest(small_project) == before
    with Project.open(small_project, readonly=True) as project:
        assert project.person(int(project.person_ids()[0])).status == "rejected"
        assert project.rounds() == []
