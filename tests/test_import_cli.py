"""`deformlearn import / info / draw` end to end on the real samples, with a tiny template."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from deformlearn.core.body.template import save_template
from deformlearn.core.cli.parser import main
from deformlearn.core.densepose.correspondence import template_key
from deformlearn.core.project import importing as project_import
from deformlearn.core.project.store import Project
from deformlearn.core.render.overlay import part_colors
from tests.tiny_template import make_tiny_template


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "tiny.npz"
    save_template(make_tiny_template(), path)
    return path


def _import(capsys, *args) -> tuple[int, str, str]:
    rc = main(["import", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_import_info_draw(shared_data, tmp_path, tiny_npz, capsys):
    dp, coco = shared_data / "densepose", shared_data / "coco"
    proj = tmp_path / "proj"
    rc, out, _ = _import(capsys, proj, "--iuv", dp, "--template", tiny_npz)
    assert rc == 0 and "read 13 people (13 with dense points)" in out and "added 13 new people" in out
    rc, out, _ = _import(capsys, proj, "--iuv", dp)
    assert rc == 0 and "added 0 new people" in out and "13 were already there" in out
    assert _import(capsys, proj, "--coco-keypoints", coco / "test_coco.json", "--images", coco)[0] == 0
    assert _import(capsys, proj, "--densepose-results", dp / "example_results.json", "--images", coco,
                   "--skip-missing-images")[0] == 0
    assert _import(capsys, proj, "--densepose-pickle", dp / "demo_dp_single_ann.pkl")[0] == 0

    with Project.open(proj) as p:
        s = p.summary()
        assert (s["images"], s["persons"], s["with_dense"]) == (7, 29, 15)
        key = template_key(make_tiny_template())
        for pid in p.person_ids():
            record = p.person(pid)
            corr = p.correspondences(pid, key)
            assert (corr is None) == (record.dense is None)
            if corr is not None:
                assert corr[0].shape == (len(record.dense),) and corr[1].max() < 1.0
        street = next(pid for pid in p.person_ids() if p.person(pid).source_key == "seated_im_IUV.png#inst=1")
        crop = next(pid for pid in p.person_ids() if p.person(pid).source_key.startswith("demo_dp_single_ann"))
        assert (proj / "images" / "demo_dp_single_ann_ICrop.png").is_file()
        p.set_review(int(street), "accepted")

    assert main(["info", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "people    29 (15 with dense points)" in out and "1 accepted" in out
    assert main(["info", str(proj), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["persons"] == 29

    for pid in (street, crop):
        png = tmp_path / f"person{pid}.png"
        assert main(["draw", str(proj), "--person", str(pid), "--out", str(png), "--no-box"]) == 0
        drawn = cv2.imread(str(png))
        with Project.open(proj, readonly=True) as p:
            record = p.person(int(pid))
        original = cv2.imread(record.image_file)
        assert drawn.shape == original.shape
        # the centre of each dot that no other dot overlaps carries its part colour
        xy = record.dense.xy
        gap = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
        alone = gap.min(1) > 2 * max(2.0, max(drawn.shape) / 400) + 4
        col, row = np.round(xy[alone]).astype(int).T
        assert alone.sum() >= 5
        colours = part_colors()[record.dense.part[alone]]
        assert (np.abs(drawn[row, col].astype(int) - colours).max(1) <= 2).mean() > 0.95
        assert (np.abs(original[row, col].astype(int) - colours).max(1) > 2).mean() > 0.5
    assert main(["draw", str(proj), "--person", "999", "--out", str(tmp_path / "x.png")]) == 2
    assert "no person 999" in capsys.readouterr().err


def test_bad_input_leaves_project_as_it_was(shared_data, tmp_path, tiny_npz, capsys):
    coco = shared_data / "coco"
    bad = tmp_path / "cut.json"
    bad.write_text((coco / "test_coco.json").read_text()[:5000])
    rc, _, err = _import(capsys, tmp_path / "new", "--coco-keypoints", bad, "--images", coco)
    assert rc == 2 and f"{bad}: not valid JSON" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()  # a failed first import creates nothing

    proj = tmp_path / "proj"
    assert _import(capsys, proj, "--iuv", shared_data / "densepose", "--template", tiny_npz)[0] == 0
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(coco / "000000000785.jpg", images)  # the other three images are missing
    rc, _, err = _import(capsys, proj, "--densepose-results", shared_data / "densepose" / "example_results.json",
                         "--images", images)
    assert rc == 2 and "image 872 (000000000872.jpg) not found" in err
    rc, _, err = _import(capsys, proj, "--detectron2-dump", shared_data / "densepose" / "demo_dp_single_ann.pkl")
    assert rc == 2 and "refusing to unpickle" in err and "--trust-pickle" in err
    with Project.open(proj) as p:
        assert p.summary()["persons"] == 13 and p.summary()["images"] == 2


def test_failure_mid_import_rolls_back(shared_data, tmp_path, tiny_npz, capsys, monkeypatch):
    proj = tmp_path / "proj"
    assert _import(capsys, proj, "--densepose-pickle", shared_data / "densepose" / "demo_dp_single_ann.pkl",
                   "--template", tiny_npz)[0] == 0
    calls = []

    def failing(template, part, uv):
        calls.append(1)
        if len(calls) == 5:
            raise ValueError("simulated failure after four people")
        return np.zeros(len(part), np.int64), np.zeros(len(part), np.float32)

    monkeypatch.setattr(project_import, "map_to_vertices", failing)
    rc, _, err = _import(capsys, proj, "--iuv", shared_data / "densepose")
    assert rc == 2 and "simulated failure" in err
    with Project.open(proj) as p:
        assert p.summary()["persons"] == 1 and p.summary()["images"] == 1
