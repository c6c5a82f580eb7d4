"""Exports: every format opens in trimesh / pygltflib with the right counts, frames land where they should,
parameter files re-import to the same mesh, the rigged glTF skins to the fitted pose, writes are atomic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import torch
import trimesh

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import axis_angle_to_rotmat, quaternion_to_rotmat
from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.export import exporter as export_module
from deformlearn.core.export.exporter import (
    ExportError,
    ExportProgress,
    atomic_write,
    export_fits,
    export_params,
    export_rigged_gltf,
    export_spin_npz,
    load_params,
    pose_fit,
    weld,
)
from deformlearn.core.export.gltf import top_weights
from deformlearn.core.project.records import FitRecord
from deformlearn.core.project.store import Project
from deformlearn.core.registration.data import normalised_to_pixels, square_box

IMAGE_SIZE = (640, 480)
BBOX = np.array([250.0, 60.0, 140.0, 380.0], np.float32)


def fit_parameters(seed: int = 0) -> dict[str, np.ndarray]:
    """A plausible fit in the normalised frame: small random pose, scales near 1, a slight turn."""
    rng = np.random.default_rng(seed)
    yaw = axis_angle_to_rotmat(torch.tensor([[0.0, 0.4, 0.1]], dtype=torch.float64))[0].numpy()
    return {"pose": rng.normal(0, 0.25, (23, 3)), "scales": 1 + 0.08 * rng.normal(size=24),
            "rotation": np.diag([1.0, -1.0, -1.0]) @ yaw, "scale": np.asarray(1.1 + 0.1 * seed),
            "translation": np.array([0.05, -0.1])}


@pytest.fixture()
def project(tmp_path: Path) -> Project:
    """A tiny project on the built-in template: 3 people, two of them with fits (one accepted)."""
    proj = Project.create(tmp_path / "proj")
    image = proj.root / "images" / "a.jpg"
    image_id = proj.add_image(image, *IMAGE_SIZE)
    ids = [proj.add_person(image_id, bbox=BBOX + [20 * i, 0, 0, 0], keypoints=np.ones((17, 3), np.float32),
                           dense=None, source_key=f"p{i}") for i in range(3)]
    proj.save_fits([FitRecord(person_id=ids[i], round_index=1, params=fit_parameters(i), metrics={"error": 1.5},
                              status="converged") for i in range(2)])
    proj.set_review(ids[0], "accepted")
    yield proj
    proj.close()


def expected_pixels(template, params: dict, bbox: np.ndarray) -> np.ndarray:
    """(V, 2) template vertices projected independently: camera in the normalised frame, then to pixels."""
    body = BodyModel(template)
    with torch.no_grad():
        out = body(torch.as_tensor(params["pose"][None], dtype=torch.float32),
                   torch.as_tensor(params["scales"][None], dtype=torch.float32))
        q, _ = weak_perspective_project(out.vertices.double(), torch.as_tensor(params["rotation"][None]),
                                        torch.as_tensor(np.asarray(params["scale"]).reshape(1)),
                                        torch.as_tensor(params["translation"][None]))
    centre, half = square_box(bbox)
    return normalised_to_pixels(q[0].numpy(), centre, half)


def test_meshes_open_welded_and_overlay_the_image(project, builtin_template, tmp_path):
    pid = int(project.person_ids()[0])
    files = export_fits(project, [pid], tmp_path / "out", formats=("obj", "ply", "glb"))
    assert sorted(f.name for f in files) == [f"person_{pid:06d}.{e}" for e in ("glb", "obj", "ply")]
    keep, faces = weld(builtin_template)
    assert len(keep) == len(np.unique(builtin_template.weld_index)) < builtin_template.num_vertices
    pixels = expected_pixels(builtin_template, fit_parameters(0), BBOX)[keep]
    for f in files:
        mesh = trimesh.load(f, process=False, force="mesh")
        assert mesh.vertices.shape == (len(keep), 3) and mesh.faces.shape == faces.shape
        np.testing.assert_allclose(mesh.vertices[:, :2], pixels, atol=1e-3)
    # the body lies on the person's box, feet below the head (y down)
    assert BBOX[0] - 60 < pixels[:, 0].mean() < BBOX[0] + BBOX[2] + 60
    assert pixels[:, 1].max() - pixels[:, 1].min() > 0.5 * BBOX[3]


def test_canonical_frame_is_upright_metres_with_translation(builtin_template):
    params = fit_parameters(0)
    params["rotation"] = np.diag([1.0, -1.0, -1.0])
    posed = pose_fit(builtin_template, params, "canonical")
    rest = pose_fit(builtin_template, {**params, "pose": np.zeros((23, 3)), "scales": np.ones(24)}, "canonical")
    height = np.ptp(rest.vertices[:, 1])
    assert 1.4 < height < 2.1  # metres, y up
    assert rest.vertices[:, 1].argmax() in np.flatnonzero(builtin_template.vertex_part >= 23)  # head on top
    np.testing.assert_allclose(posed.joints[0], [0.05 / 1.1, 0.1 / 1.1, 0.0], atol=1e-6)  # root = (tx/s, -ty/s)
    with pytest.raises(ExportError, match="frame"):
        pose_fit(builtin_template, params, "world")


def test_uv_export_keeps_seams_and_texture(builtin_template, tmp_path):
    params = fit_parameters(1)
    posed = pose_fit(builtin_template, params, "image")
    files = export_module.export_posed_mesh(builtin_template, posed, tmp_path / "uv.obj", uv=True)
    assert {f.name for f in files} == {"uv.obj", "uv.mtl", "uv.png"}
    mesh = trimesh.load(tmp_path / "uv.obj", process=False)
    assert mesh.vertices.shape[0] == builtin_template.num_vertices
    assert mesh.visual.uv.shape == (builtin_template.num_vertices, 2)
    assert 0 <= mesh.visual.uv.min() and mesh.visual.uv.max() <= 1


def skin_gltf(doc: pygltflib.GLTF2) -> np.ndarray:
    """(V, 3) the skinned vertices of a rigged glTF computed from the file alone (glTF's skinning rule)."""
    blob = doc.binary_blob()

    def read(index: int, dtype, width: int) -> np.ndarray:
        acc = doc.accessors[index]
        view = doc.bufferViews[acc.bufferView]
        return np.frombuffer(blob, dtype, acc.count * width, view.byteOffset).reshape(acc.count, width)

    prim = doc.meshes[0].primitives[0]
    verts = read(prim.attributes.POSITION, np.float32, 3).astype(np.float64)
    joints = read(prim.attributes.JOINTS_0, np.uint8, 4)
    weights = read(prim.attributes.WEIGHTS_0, np.float32, 4).astype(np.float64)
    skin = doc.skins[0]
    ibm = read(skin.inverseBindMatrices, np.float32, 16).reshape(-1, 4, 4).transpose(0, 2, 1)
    local = []
    for node in doc.nodes[:len(skin.joints)]:
        m = np.eye(4)
        m[:3, :3] = quaternion_to_rotmat(torch.tensor(node.rotation, dtype=torch.float64)).numpy() * node.scale[0]
        m[:3, 3] = node.translation
        local.append(m)
    world = [None] * len(local)
    parent = {c: p for p, n in enumerate(doc.nodes) for c in (n.children or [])}
    for j in range(len(local)):  # SMPL order: parents come first
        world[j] = local[j] if j not in parent else world[parent[j]] @ local[j]
    mats = np.stack(world) @ ibm
    homo = np.concatenate([verts, np.ones((len(verts), 1))], 1)
    per = np.einsum("vkab,vb->vka", mats[joints][:, :, :3], homo)
    return (weights[..., None] * per).sum(1)


@pytest.mark.parametrize("suffix", [".glb", ".gltf"])
def test_rigged_gltf_skeleton_skin_and_pose(builtin_template, tmp_path, suffix):
    params = fit_parameters(2)
    path = export_rigged_gltf(builtin_template, params, tmp_path / f"rig{suffix}")
    doc = pygltflib.GLTF2().load(str(path))
    if suffix == ".gltf":
        doc.convert_buffers(pygltflib.BufferFormat.BINARYBLOB)
    keep, _ = weld(builtin_template)
    skin = doc.skins[0]
    assert len(skin.joints) == 24 and [doc.nodes[j].name for j in skin.joints] == list(builtin_template.joint_names)
    assert doc.accessors[doc.meshes[0].primitives[0].attributes.JOINTS_0].count == len(keep)
    assert doc.accessors[skin.inverseBindMatrices].count == 24
    # The file's own skinning reproduces the canonical mesh with top-4 weights.
    expected = BodyModel(builtin_template, topk=4)
    with torch.no_grad():
        out = expected(torch.as_tensor(params["pose"][None], dtype=torch.float32),
                       torch.as_tensor(params["scales"][None], dtype=torch.float32))
    A, b = export_module.frame_transform(params, "canonical")
    target = out.vertices[0].double().numpy()[keep] @ A.T + b
    np.testing.assert_allclose(skin_gltf(doc), target, atol=2e-4)


def test_top_weights_sum_to_one(builtin_template):
    joints, weights = top_weights(builtin_template.skin_weights)
    assert joints.shape == weights.shape == (builtin_template.num_vertices, 4)
    np.testing.assert_allclose(weights.sum(1), 1.0, atol=1e-6)
    assert joints.max() < 24 and weights.min() >= 0


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_params_reimport_reproduces_the_mesh(project, builtin_template, tmp_path, suffix):
    pid = int(project.person_ids()[1])
    params = export_module.fit_params(project, pid)
    path = export_params(params, tmp_path / f"p{suffix}", builtin_template)
    again = load_params(path)
    assert again["schema_version"] == 1 and again["person_id"] == pid and again["metrics"] == {"error": 1.5}
    for frame in ("image", "canonical"):
        np.testing.assert_allclose(pose_fit(builtin_template, again, frame).vertices,
                                   pose_fit(builtin_template, params, frame).vertices, atol=1e-9)
    centre, half = square_box(project.person(pid).bbox)
    np.testing.assert_allclose(again["camera_translation_px"], half * params["translation"] + centre)
    assert "smpl_body_pose" not in again  # built-in template: no SMPL fields


def test_params_json_is_plain_and_bad_files_are_named(builtin_template, tmp_path):
    path = export_params(fit_parameters(0), tmp_path / "p.json", builtin_template)
    doc = json.loads(path.read_text())
    assert doc["format"] == "deformlearn-fit" and len(doc["joint_names"]) == 24 and len(doc["pose"]) == 23
    doc["pose"] = doc["pose"][:5]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ExportError, match=r"bad\.json.*'pose'"):
        load_params(tmp_path / "bad.json")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ExportError, match="junk.npz"):
        load_params(tmp_path / "junk.npz")


def test_smpl_backend_adds_smpl_fields(builtin_template, tmp_path):
    from dataclasses import replace

    smpl_like = replace(builtin_template, name="smpl-neutral")
    params = load_params(export_params(fit_parameters(0), tmp_path / "s.npz", smpl_like))
    assert params["smpl_body_pose"].shape == (69,) and params["smpl_betas"].shape == (10,)
    assert not bool(params["smpl_betas_estimated"])
    np.testing.assert_allclose(axis_angle_to_rotmat(torch.as_tensor(params["smpl_global_orient"]))
                               .numpy(), fit_parameters(0)["rotation"], atol=1e-9)


def test_spin_npz(project, builtin_template, tmp_path):
    ids = project.person_ids()
    path = export_spin_npz(project, ids, tmp_path / "spin.npz")
    with np.load(path, allow_pickle=False) as data:
        assert data["imgname"].tolist() == ["images/a.jpg"] * 2  # the person without a fit is left out
        assert data["pose"].shape == (2, 72) and data["shape"].shape == (2, 10) and not data["shape"].any()
        assert data["part"].shape == (2, 24, 3) and data["S"].shape == (2, 24, 4)
        np.testing.assert_allclose(data["scale"][0], 380 / 200)
        np.testing.assert_allclose(data["center"][0], [320, 250])
        np.testing.assert_allclose(data["S"][:, 0, :3], 0, atol=1e-6)  # root-centred, camera frame
        image = pose_fit(builtin_template, export_module.fit_params(project, int(ids[0])), "image")
        np.testing.assert_allclose(data["part"][0, :, :2], image.joints[:, :2], atol=1e-6)


def test_export_fits_all_formats_accepted_and_progress(project, tmp_path):
    events = []
    accepted = project.person_ids(status="accepted")
    files = export_fits(project, project.person_ids(), tmp_path / "out", frame="canonical",
                        formats=("obj", "gltf-rigged", "json", "npz", "spin"), progress=events.append)
    names = sorted(f.name for f in files)
    assert len(names) == 2 * 4 + 1 and "spin_train.npz" in names
    assert [e.done for e in events] == [1, 2, 3] and events[2].files == ()  # third person has no fit
    assert len(export_fits(project, accepted, tmp_path / "acc", formats=("json",))) == 1
    with pytest.raises(ExportError, match="unknown export formats"):
        export_fits(project, accepted, tmp_path / "x", formats=("fbx",))


def test_cancel_raises_and_leaves_only_whole_files(project, tmp_path):
    token, events = CancelToken(), []

    def cancel_after_first(e: ExportProgress) -> None:
        events.append(e)
        token.cancel()

    with pytest.raises(Cancelled, match="export before person 2") as stopped:
        export_fits(project, project.person_ids(), tmp_path / "out", formats=("ply", "json"),
                    progress=cancel_after_first, cancel=token)
    assert [f.name for f in stopped.value.done] == ["person_000001.ply", "person_000001.json"]
    assert [f for e in events for f in e.files] == stopped.value.done
    assert sorted(os.listdir(tmp_path / "out")) == ["person_000001.json", "person_000001.ply"]
    assert load_params(tmp_path / "out" / "person_000001.json")["pose"].shape == (23, 3)


def test_failed_write_leaves_nothing(project, tmp_path, monkeypatch):
    def half_then_fail(f):
        f.write(b"x" * 1000)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "a.bin", half_then_fail)
    assert os.listdir(tmp_path) == ["proj"]
    atomic_write(tmp_path / "a.bin", b"old")
    with pytest.raises(OSError):
        atomic_write(tmp_path / "a.bin", half_then_fail)
    assert (tmp_path / "a.bin").read_bytes() == b"old"  # the previous file survives a failed overwrite

    real_savez = np.savez

    def failing_savez(f, **arrays):
        real_savez(f, **arrays)
        raise RuntimeError("writer failed midway")

    monkeypatch.setattr(np, "savez", failing_savez)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="midway"):
        export_fits(project, project.person_ids()[:1], out, formats=("npz",))
    assert os.listdir(out) == []


def test_export_command(project, tmp_path, capsys):
    from deformlearn.core.cli.parser import main

    root = str(project.root)
    out = tmp_path / "cli"
    assert main(["export", root, "--out", str(out), "--accepted", "--format", "glb", "--format", "json"]) == 0
    assert sorted(os.listdir(out)) == ["person_000001.glb", "person_000001.json"]
    assert main(["export", root, "--out", str(out), "--only", "2-3", "--format", "ply", "--frame", "canonical"]) == 0
    assert "skipped 1 people without a fit: 3" in capsys.readouterr().out
    assert main(["export", root, "--out", str(out), "--only", "9"]) == 2
    assert "no people with ids [9]" in capsys.readouterr().err


def test_frontal_rotation_matches_the_camera():
    from deformlearn.core.body.camera import FRONTAL_ROTATION_VALUES
    from deformlearn.core.export.common import FRONTAL

    np.testing.assert_array_equal(FRONTAL, np.asarray(FRONTAL_ROTATION_VALUES))


def test_exported_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    path = atomic_write(tmp_path / "a.bin", b"data")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_records_count_mesh_vertices_and_carry_the_verdict(tmp_path):
    proj = Project.create(tmp_path / "q")
    image_id = proj.add_image(proj.root / "images" / "a.jpg", *IMAGE_SIZE)
    pid = proj.add_person(image_id, bbox=BBOX, keypoints=np.ones((17, 3), np.float32), dense=None, source_key="p")
    proj.save_fits([FitRecord(person_id=pid, round_index=1, params=fit_parameters(0), status="converged",
                              metrics={"error": 3.0, "converged": 0.0, "quality": "poor",
                                       "quality_flags": "few_parts,mesh_outside_box"})])
    proj.set_review(pid, "rejected")
    files = export_fits(proj, [pid], tmp_path / "out", formats=("obj", "json", "npz"))
    mesh = trimesh.load(files[0], process=False, force="mesh")
    for f in files[1:]:
        params = load_params(f)
        assert params["num_vertices_welded"] == len(mesh.vertices) < params["num_vertices"]
        assert (params["quality"], params["review_status"], params["fit_status"]) == ("poor", "rejected", "converged")
        assert params["quality_flags"].tolist() == ["few_parts", "mesh_outside_box"]
    assert json.loads(files[1].read_text())["quality_flags"] == ["few_parts", "mesh_outside_box"]
    proj.close()


def test_export_out_that_is_a_file_is_refused_at_once(project, tmp_path, capsys):
    from deformlearn.core.cli.parser import main

    (tmp_path / "taken.obj").write_text("x")
    for out, why in ((tmp_path / "taken.obj", "is a file"), (tmp_path / "new.obj", "looks like a file name")):
        assert main(["export", str(project.root), "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert f"--out {out}: {why}; --out names a folder" in captured.err and "person/s" not in captured.err  # no progress bar
    assert not (tmp_path / "new.obj").exists()
