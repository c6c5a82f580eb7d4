"""`deformlearn predict` on new data (real DensePose inference output) without a project made by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deformlearn.core.body.template import save_template
from deformlearn.core.cli.parser import main
from deformlearn.core.regressor.network import RegressorConfig
from deformlearn.core.regressor.training import RegressorTrainingSettings, save_regressor, train_regressor
from tests.test_regressor import _synthetic_samples
from tests.tiny_template import make_tiny_template


@pytest.fixture(scope="module")
def tiny_regressor(tmp_path_factory):
    """A point-set regressor (briefly trained on tiny-template people) and the tiny template's file."""
    folder = tmp_path_factory.mktemp("model")
    template = make_tiny_template()
    save_template(template, folder / "tiny.npz")
    cfg = RegressorConfig(architecture="pointset", point_features=32)
    settings = RegressorTrainingSettings(model=cfg, epochs=1, batch_size=6, num_threads=1)
    save_regressor(train_regressor(_synthetic_samples(6), template, settings).model, folder / "model.pt")
    return folder / "model.pt", folder / "tiny.npz"


def test_predict_new_images_writes_meshes_and_parameters(shared_data, tiny_regressor, tmp_path, capsys):
    model, template = tiny_regressor
    out, kept = tmp_path / "out", tmp_path / "kept"
    rc = main(["predict", "--regressor", str(model), "--template", str(template), "--iuv",
               str(shared_data / "densepose"), "--export", str(out), "--keep-project", str(kept), "--refine",
               "--out", str(tmp_path / "params.npz")])
    assert rc == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    people = summary["people"]
    assert people >= 2 and np.isfinite(summary["before_dense_px"]) and np.isfinite(summary["after_dense_px"])
    assert summary["after_dense_px"] < summary["before_dense_px"]  # refinement fits the points better
    assert "before_keypoint_px" not in summary  # IUV output carries no keypoints: no keypoint error, not 0 px
    for pattern in ("person_??????.obj", "person_??????.ply", "person_??????.glb", "person_??????_rigged.glb",
                    "person_??????.json", "person_??????.npz"):
        assert len(list(out.glob(pattern))) == people, pattern
    params = json.loads(next(out.glob("person_*.json")).read_text())
    assert np.asarray(params["pose"]).shape == (23, 3)
    assert (kept / "project.sqlite").is_file()
    saved = np.load(tmp_path / "params.npz")
    assert saved["before_pose"].shape == (people, 23, 3) and saved["after_pose"].shape == (people, 23, 3)


def test_predict_without_a_model_or_with_two_sources_is_a_clear_error(tmp_path, capsys):
    assert main(["predict", "--iuv", str(tmp_path)]) != 0
    assert "needs a PROJECT, or --regressor" in capsys.readouterr().err
    assert main(["predict", "--regressor", "m.pt", "--iuv", "a", "--coco-densepose", "b.json"]) != 0
    assert "one new-data source" in capsys.readouterr().err
