"""Synthetic projects (`deformlearn synth`): annotations, exact ground truth, images, options, determinism."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from deformlearn.core.body.model import BodyModel
from deformlearn.core.densepose.correspondence import template_key
from deformlearn.core.densepose.iuv_images import read_iuv_inference
from deformlearn.core.project.importing import load_project_template
from deformlearn.core.project.store import Project, ProjectError
from deformlearn.core.render.offscreen import OffscreenRenderer, RenderError
from deformlearn.core.synth.annotate import stratified_choice
from deformlearn.core.synth.people import project_ground_truth, rotation_matrix, sample_segment_scales, synthesize_project
from deformlearn.core.synth.poses import MotionFileError, load_motion_poses, pose_limits, sample_limited_poses
from deformlearn.core.synth.settings import SynthSettings

GT_KEYS = {"pose", "scales", "rotation", "scale", "translation", "depth_offset", "joints3d", "keypoints3d",
           "vertices", "keypoints2d", "point_vertex", "point_face", "point_barycentric", "point_uv", "motion_frame",
           "occluder", "truncated", "template_key"}


def _people(root):
    project = Project.open(root, readonly=True)
    return project, [(project.person(i), project.ground_truth(i)) for i in project.person_ids()]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "clean"
    report = synthesize_project(root, SynthSettings(count=8, seed=5, chunk=3))
    return root, report


@pytest.fixture(scope="module")
def body(clean):
    with Project.open(clean[0], readonly=True) as project:
        template = load_project_template(project)
    return BodyModel(template)


def test_project_holds_people_with_dense_points_keypoints_and_ground_truth(clean):
    root, report = clean
    assert report.people == 8 and report.images == 8
    project, people = _people(root)
    with project:
        assert project.summary()["persons"] == 8 and project.summary()["with_dense"] == 8
        for rec, gt in people:
            assert 100 <= len(rec.dense) <= 150
            assert rec.keypoints.shape == (17, 3) and (rec.keypoints[:, 2] == 2).sum() >= 8
            assert set(gt) == GT_KEYS and str(gt["template_key"]) == template_key(load_project_template(project))
            assert gt["pose"].shape == (23, 3) and gt["scales"].shape == (24,) and gt["vertices"].shape[1] == 3
            assert np.allclose(gt["rotation"] @ gt["rotation"].T, np.eye(3), atol=1e-5)
            assert len(np.unique(rec.dense.part)) >= 8  # spread over the visible parts
            x, y, w, h = rec.bbox
            assert np.all(rec.dense.xy >= [x, y]) and np.all(rec.dense.xy <= [x + w, y + h])


def test_ground_truth_projects_every_annotated_vertex_onto_its_point(clean, body):
    project, people = _people(clean[0])
    errors = []
    with project:
        for rec, gt in people:
            xy = project_ground_truth(body, gt, gt["point_vertex"])
            errors.append(np.abs(xy - rec.dense.xy).max())
            assert np.array_equal(rec.dense.part, body.template.vertex_part[gt["point_vertex"]])
            kp = rec.keypoints
            seen = kp[:, 2] > 0
            assert np.allclose(kp[seen, :2], gt["keypoints2d"][seen], atol=1e-3)
    assert max(errors) < 0.5 and max(errors) < 1e-3  # exact up to float32 rounding


def test_stored_vertices_and_joints_match_the_body_model(clean, body):
    import torch

    project, people = _people(clean[0])
    with project:
        for _, gt in people[:3]:
            out = body(torch.as_tensor(gt["pose"])[None], torch.as_tensor(gt["scales"])[None])
            assert np.abs(out.vertices[0].numpy() - gt["vertices"].astype(np.float32)).max() < 1e-3
            assert np.allclose(out.joints[0].numpy(), gt["joints3d"], atol=1e-5)
            assert np.allclose(out.keypoints[0].numpy(), gt["keypoints3d"], atol=1e-5)


def _surface_points(body, gt) -> np.ndarray:
    """(N, 2) pixels of the ground-truth surface points (face + barycentric weights) of a person's points."""
    corners = body.template.faces[gt["point_face"]]
    xy = project_ground_truth(body, gt, corners.reshape(-1)).reshape(-1, 3, 2)
    return np.einsum("nk,nkc->nc", gt["point_barycentric"].astype(np.float64), xy)


def test_ground_truth_surface_points_are_the_vertices(clean, body):
    project, people = _people(clean[0])
    with project:
        for rec, gt in people[:3]:
            assert np.array_equal(body.template.faces[gt["point_face"]][gt["point_barycentric"] == 1],
                                  gt["point_vertex"])
            assert np.abs(_surface_points(body, gt) - rec.dense.xy).max() < 1e-3


def test_points_at_pixel_centres_hold_exact_surface_points(tmp_path, body):
    root = tmp_path / "pixels"
    synthesize_project(root, SynthSettings(count=3, seed=7, points_at="pixels"))
    project, people = _people(root)
    key = template_key(body.template)
    rest = body.template.rest_vertices
    dist = []
    with project:
        for rec, gt in people:
            assert 100 <= len(rec.dense) <= 150 and np.array_equal(rec.dense.xy, np.round(rec.dense.xy))
            assert np.abs(_surface_points(body, gt) - rec.dense.xy).max() < 1e-3
            assert np.any(body.template.faces[gt["point_face"]] == gt["point_vertex"][:, None], axis=1).all()
            iuv = cv2.imread(rec.iuv_file)
            r, c = rec.dense.xy[:, 1].astype(int), rec.dense.xy[:, 0].astype(int)
            assert np.array_equal(iuv[r, c, 0], rec.dense.part)
            assert np.abs(iuv[r, c, 1:] / 255.0 - rec.dense.uv).max() <= 0.5 / 255 + 1e-6
            vertex, _ = project.correspondences(rec.id, key)
            surface = np.einsum("nk,nkc->nc", gt["point_barycentric"], rest[body.template.faces[gt["point_face"]]])
            dist.append(np.linalg.norm(rest[vertex] - surface, axis=1).mean())
    print(f"pixel-centre points: chart-mapped vertex {1000 * np.mean(dist):.1f} mm from the true surface point")
    assert np.mean(dist) < 0.02  # metres: the chart look-up lands on a vertex near the true surface point


def test_correspondences_are_the_ground_truth_vertices_without_noise(clean, body):
    project, people = _people(clean[0])
    key = template_key(body.template)
    with project:
        for rec, gt in people:
            vertex, residual = project.correspondences(rec.id, key)
            rest = body.template.rest_vertices
            assert np.linalg.norm(rest[vertex] - rest[gt["point_vertex"]], axis=1).mean() < 1e-3
            assert residual.max() < 1e-4


def test_iuv_and_inds_images_read_back_with_the_same_parts(clean):
    project, people = _people(clean[0])
    with project:
        for rec, gt in people[:4]:
            iuv = cv2.imread(rec.iuv_file, cv2.IMREAD_COLOR)
            rows = np.floor(rec.dense.xy[:, 1] + 0.5).astype(int)
            cols = np.floor(rec.dense.xy[:, 0] + 0.5).astype(int)
            assert np.array_equal(iuv[rows, cols, 0], rec.dense.part)  # cv2 gives [I, U, V]
            # the pixel centre lies within half a pixel of the vertex: its (U, V) is close (small charts move more)
            assert np.median(np.abs(iuv[rows, cols, 1:] / 255.0 - gt["point_uv"])) < 0.02
            (read,) = read_iuv_inference(rec.image_file, rec.iuv_file, rec.inds_file, seed=0)
            assert np.array_equal(read.dense.part, iuv[read.dense.xy[:, 1].astype(int),
                                                       read.dense.xy[:, 0].astype(int), 0])
            assert set(np.unique(read.dense.part)) >= set(np.unique(rec.dense.part)) - {3, 4}
            assert np.allclose(read.bbox, rec.bbox)


def test_same_seed_gives_the_same_project(clean, tmp_path):
    root = tmp_path / "again"
    synthesize_project(root, SynthSettings(count=8, seed=5, chunk=8))  # chunking must not matter
    (_, a), (_, b) = _people(clean[0]), _people(root)
    for (ra, ga), (rb, gb) in zip(a, b):
        assert np.array_equal(ra.dense.xy, rb.dense.xy) and np.array_equal(ra.dense.uv, rb.dense.uv)
        assert np.array_equal(ra.keypoints, rb.keypoints)
        assert all(np.array_equal(ga[k], gb[k]) for k in GT_KEYS)
        assert open(ra.iuv_file, "rb").read() == open(rb.iuv_file, "rb").read()
    other = tmp_path / "other"
    synthesize_project(other, SynthSettings(count=2, seed=6))
    assert not np.array_equal(_people(other)[1][0][1]["pose"], a[0][1]["pose"])


def test_noise_moves_uv_and_keypoints_but_not_the_ground_truth(clean, tmp_path):
    root = tmp_path / "noisy"
    synthesize_project(root, SynthSettings(count=8, seed=5, uv_noise=0.03, keypoint_noise=2.0))
    _, noisy = _people(root)
    _, ref = _people(clean[0])
    du, dk = [], []
    for (rn, gn), (rc, gc) in zip(noisy, ref):
        assert np.array_equal(gn["point_vertex"], gc["point_vertex"]) and np.array_equal(gn["pose"], gc["pose"])
        assert np.array_equal(rn.dense.xy, rc.dense.xy) and np.allclose(gn["point_uv"], rc.dense.uv)
        du.append(rn.dense.uv - rc.dense.uv)
        seen = rc.keypoints[:, 2] > 0
        dk.append(rn.keypoints[seen, :2] - rc.keypoints[seen, :2])
    assert 0.015 < np.concatenate(du).std() < 0.035
    assert 1.6 < np.concatenate(dk).std() < 2.4
    with Project.open(root, readonly=True) as project:
        template = load_project_template(project)
        key = template_key(template)
        dist = [np.linalg.norm(template.rest_vertices[project.correspondences(rec.id, key)[0]]
                               - template.rest_vertices[gt["point_vertex"]], axis=1).mean() for rec, gt in noisy]
    assert 0.001 < np.mean(dist) < 0.06  # metres: noisy charts map to nearby vertices


def test_occlusion_removes_points_and_hides_keypoints(tmp_path):
    root = tmp_path / "occluded"
    synthesize_project(root, SynthSettings(count=4, seed=2, occlusion=1.0, points=(150, 150)))
    project, people = _people(root)
    with project:
        for rec, gt in people:
            x, y, w, h = gt["occluder"]
            assert w > 0 and h > 0
            inside = ((rec.dense.xy[:, 0] >= x - 0.5) & (rec.dense.xy[:, 0] < x + w - 0.5)
                      & (rec.dense.xy[:, 1] >= y - 0.5) & (rec.dense.xy[:, 1] < y + h - 0.5))
            assert not inside.any()
            iuv = cv2.imread(rec.iuv_file)
            assert not iuv[int(y):int(y + h), int(x):int(x + w)].any()
            kp = gt["keypoints2d"]
            in_box = ((kp[:, 0] >= x - 0.5) & (kp[:, 0] < x + w - 0.5) & (kp[:, 1] >= y - 0.5)
                      & (kp[:, 1] < y + h - 0.5))
            assert np.all(rec.keypoints[in_box, 2] == 1)


def test_truncation_puts_people_partly_outside_the_image(tmp_path, body):
    root = tmp_path / "truncated"
    synthesize_project(root, SynthSettings(count=4, seed=3, truncation=1.0))
    project, people = _people(root)
    with project:
        for rec, gt in people:
            assert bool(gt["truncated"][0])
            xy = project_ground_truth(body, gt, np.arange(body.num_vertices))
            outside = np.any((xy < -0.5) | (xy >= np.array(rec.image_size) - 0.5), axis=1)
            assert 0.05 < outside.mean() < 0.7
            assert np.all(rec.dense.xy > -0.5) and np.all(rec.dense.xy < np.array(rec.image_size) - 0.5)
            absent = rec.keypoints[:, 2] == 0
            assert np.all(rec.keypoints[absent, :2] == 0)


def test_amass_poses_are_used(shared_data, tmp_path):
    motion = shared_data / "motion" / "amass_sample.npz"
    poses = load_motion_poses(motion)
    raw = np.load(motion)["poses"]
    assert poses.shape == (len(raw), 23, 3)
    assert np.allclose(poses[:, :21].reshape(len(raw), -1), raw[:, 3:66]) and not poses[:, 21:].any()
    root = tmp_path / "amass"
    synthesize_project(root, SynthSettings(count=4, seed=1, motion=motion, people_per_image=2))
    project, people = _people(root)
    with project:
        assert project.summary()["images"] == 2
        for _, gt in people:
            frame = int(gt["motion_frame"][0])
            assert 0 <= frame < len(raw) and np.allclose(gt["pose"], poses[frame])


def test_smpl_pose_files_and_several_motion_files(shared_data, tmp_path):
    h36m = shared_data / "h36m" / "test_h36m.npz"
    amass = shared_data / "motion" / "amass_sample.npz"
    smpl = load_motion_poses(h36m)
    raw = np.load(h36m)["pose"]
    assert smpl.shape == (len(raw), 23, 3) and np.allclose(smpl.reshape(len(raw), -1), raw[:, 3:])
    pool = np.concatenate([load_motion_poses(amass), smpl])
    root = tmp_path / "two"
    synthesize_project(root, SynthSettings(count=24, seed=2, motion=(amass, h36m)))
    project, people = _people(root)
    with project:
        frames = np.array([int(gt["motion_frame"][0]) for _, gt in people])
        for frame, (_, gt) in zip(frames, people):
            assert np.allclose(gt["pose"], pool[frame])
    # each person draws a file first: the four Human3.6M poses are as likely as AMASS's 601 frames
    assert 4 <= np.sum(frames >= len(pool) - len(smpl)) <= 20
    jittered = tmp_path / "jitter"
    synthesize_project(jittered, SynthSettings(count=8, seed=2, motion=h36m, motion_jitter=0.1))
    project, people = _people(jittered)
    with project:
        noise = np.stack([gt["pose"] - smpl[int(gt["motion_frame"][0])] for _, gt in people])
    assert 0.07 < noise.std() < 0.13
    with pytest.raises(ValueError, match="motion_jitter"):
        SynthSettings(motion_jitter=-1.0).check()
    with pytest.raises(ValueError, match="give motion files"):
        SynthSettings(motion_jitter=0.1).check()


def test_amass_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, trans=np.zeros((3, 3)))
    with pytest.raises(MotionFileError, match="bad.npz.*poses"):
        load_motion_poses(bad)
    np.savez(bad, poses=np.zeros((3, 10)))
    with pytest.raises(MotionFileError, match="shape"):
        load_motion_poses(bad)
    np.savez(bad, pose=np.zeros((3, 66)))
    with pytest.raises(MotionFileError, match=r"'pose' has shape \(3, 66\), expected \(T, 72\)"):
        load_motion_poses(bad)
    np.savez(bad, pose=np.full((2, 72), np.nan))
    with pytest.raises(MotionFileError, match="non-finite"):
        load_motion_poses(bad)
    with pytest.raises(MotionFileError, match="not found"):
        load_motion_poses(tmp_path / "missing.npz")


def test_pose_and_body_sampling_stay_within_limits():
    rng = np.random.default_rng(0)
    pose = sample_limited_poses(rng, 500)
    lo, hi = pose_limits()
    assert pose.shape == (500, 23, 3) and np.all(pose >= lo - 1e-6) and np.all(pose <= hi + 1e-6)
    assert pose.std(0).max() > 0.2 and not pose[:, 21:].any()  # varied, hands fixed
    calm_and_lively = sample_limited_poses(rng, 400, spread=np.repeat([0.02, 0.3], 200), centre="tpose")
    assert np.abs(calm_and_lively[:200]).mean() < 0.2 * np.abs(calm_and_lively[200:]).mean()
    assert np.all(calm_and_lively >= lo - 1e-6) and np.all(calm_and_lively <= hi + 1e-6)
    assert abs(np.median(calm_and_lively[:, 15, 2])) < 0.01  # T-pose centre: shoulders around 0, not arms down
    with pytest.raises(ValueError, match=r"spread must be one value or \(3,\)"):
        sample_limited_poses(rng, 3, spread=np.ones(2))
    scales = sample_segment_scales(rng, 500, 0.05)
    assert abs(scales.mean() - 1) < 0.01 and 0.01 < scales.std() < 0.06
    assert np.allclose(scales[:, 1], scales[:, 2])  # left and right hips alike
    R = rotation_matrix(0.0, 0.0, 0.0)
    assert np.allclose(R, np.diag([1.0, -1.0, -1.0]))
    picked = stratified_choice(rng, np.repeat([1, 2, 3], [2, 50, 50]), 30)
    assert np.bincount(np.repeat([1, 2, 3], [2, 50, 50])[picked]).tolist() == [0, 2, 14, 14]


def test_numpy_fallback_when_opengl_is_unavailable(tmp_path, monkeypatch):
    original = OffscreenRenderer.render

    def no_gl(self, *args, mode, **kwargs):
        if mode != "iuv":
            raise RenderError("no offscreen OpenGL context (test)")
        return original(self, *args, mode=mode, **kwargs)

    monkeypatch.setattr(OffscreenRenderer, "render", no_gl)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = synthesize_project(tmp_path / "flat", SynthSettings(count=2, seed=0, background="plain"))
    assert report.renderer == "numpy" and any("numpy" in str(w.message) for w in caught)
    project, people = _people(tmp_path / "flat")
    with project:
        rec = people[0][0]
        rgb = cv2.imread(rec.image_file)
        person = cv2.imread(rec.inds_file, cv2.IMREAD_UNCHANGED) > 0
        assert rgb[person].std() > 10  # textured and shaded, not flat
        far = cv2.dilate(person.astype(np.uint8), np.ones((33, 33), np.uint8)) == 0  # beyond JPEG blocks
        assert np.percentile(np.abs(rgb[far].astype(int) - np.median(rgb[far], 0)), 99) < 4  # plain background


def test_bad_settings_and_existing_project_raise(tmp_path, clean):
    with pytest.raises(ValueError, match="points"):
        synthesize_project(tmp_path / "x", SynthSettings(count=1, points=(20, 10)))
    with pytest.raises(ValueError, match="occlusion"):
        synthesize_project(tmp_path / "y", SynthSettings(count=1, occlusion=2.0))
    with pytest.raises(MotionFileError, match="not found"):
        synthesize_project(tmp_path / "z", SynthSettings(count=1, motion=tmp_path / "none.npz"))
    assert not (tmp_path / "z").exists()
    with pytest.raises(ProjectError, match="already a project"):
        synthesize_project(clean[0], SynthSettings(count=1))


def test_cli_synth(tmp_path, capsys):
    from deformlearn.core.cli.parser import main

    assert main(["synth", "--n", "2", "--out", str(tmp_path / "cli"), "--size", "128", "--points", "20", "30"]) == 0
    assert "2 people" in capsys.readouterr().out
    with Project.open(tmp_path / "cli", readonly=True) as project:
        assert project.count_persons() == 2
    assert main(["synth", "--n", "0", "--out", str(tmp_path / "cli0")]) == 2
