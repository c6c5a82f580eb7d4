"""Keypoint-only people: OpenPose files with their confidences, and COCO keypoints whose images are absent."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from deformlearn.core.body.skeletons import COCO_KEYPOINT_NAMES
from deformlearn.core.cli.parser import main
from deformlearn.core.densepose.openpose import OPENPOSE_TO_COCO, openpose_to_coco
from deformlearn.core.densepose.readers import AnnotationError, read_people
from deformlearn.core.project.store import Project

BODY_25 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
           "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
           "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel", "right_big_toe",
           "right_small_toe", "right_heel")
COCO_18 = BODY_25[1:8] + BODY_25[9:15] + BODY_25[15:19]


def test_openpose_layouts_map_to_coco_by_name():
    coco18 = ("nose",) + COCO_18
    for names, count in ((BODY_25, 25), (coco18, 18)):
        assert len(names) == count
        assert tuple(names[i] for i in OPENPOSE_TO_COCO[count]) == COCO_KEYPOINT_NAMES


def test_openpose_values_and_confidences():
    flat = np.zeros((25, 3))
    flat[:, 0], flat[:, 1], flat[:, 2] = np.arange(25) * 10, np.arange(25) + 100, np.linspace(0.04, 1, 25)
    flat[16] = 0  # left eye not detected
    kp = openpose_to_coco(flat.ravel(), "f")
    assert kp.shape == (17, 3) and kp.dtype == np.float32
    np.testing.assert_allclose(kp[5], [50, 105, flat[5, 2]], rtol=1e-6)  # left shoulder is BODY_25's 5
    np.testing.assert_array_equal(kp[1], [0, 0, 0])
    with pytest.raises(AnnotationError, match=r"f: 'pose_keypoints_2d' has 60 values; expected 75 \(BODY_25\)"):
        openpose_to_coco(np.zeros(60), "f")
    flat[0, 2] = 1.5
    with pytest.raises(AnnotationError, match=r"confidences outside \[0, 1\]"):
        openpose_to_coco(flat.ravel(), "f")


def _openpose_folder(tmp_path, photo: bool = True):
    out = tmp_path / "openpose"
    out.mkdir()
    person = np.zeros((25, 3))
    person[:15, :2] = np.stack([np.linspace(100, 200, 15), np.linspace(50, 300, 15)], 1)
    person[:15, 2] = 0.8
    person[2, 2] = 0.3
    empty = np.zeros(75)
    (out / "frame_000001_keypoints.json").write_text(json.dumps(
        {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": person.ravel().tolist()},
                                    {"pose_keypoints_2d": empty.tolist()}]}))
    if photo:
        cv2.imwrite(str(tmp_path / "frame_000001.png"), np.zeros((400, 320, 3), np.uint8))
    return out


def test_openpose_folder_keeps_confidences(tmp_path):
    out = _openpose_folder(tmp_path)
    (p,) = read_people("openpose", out, images_dir=tmp_path)  # the undetected second person is left out
    assert p.dense is None and p.image_size == (320, 400) and p.source_key == "frame_000001_keypoints.json#person=0"
    assert p.keypoints[6, 2] == pytest.approx(0.3)  # right shoulder: BODY_25 index 2
    assert {round(float(c), 3) for c in p.keypoints[:, 2]} == {0.8, 0.3, 0.0}  # eyes and ears were not detected
    assert p.bbox[2] > 0 and p.bbox[3] > 200
    with pytest.raises(AnnotationError, match=r"frame_000001_keypoints\.json: no photo frame_000001\.jpg.*carry no image size"):
        read_people("openpose", out)
    with pytest.raises(AnnotationError, match=r"no \*_keypoints\.json files"):
        read_people("openpose", tmp_path)


def test_coco_keypoints_without_images_keep_annotation_sizes(shared_data, tmp_path, capsys):
    h36m = shared_data / "h36m" / "h36m_coco.json"  # names images that are not beside it
    people = read_people("coco-keypoints", h36m)
    data = json.loads(h36m.read_text())
    sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    assert len(people) == len(data["annotations"]) and all(p.image_missing for p in people)
    for p, ann in zip(people, data["annotations"]):
        assert p.image_size == sizes[ann["image_id"]]
        np.testing.assert_allclose(p.keypoints.ravel(), ann["keypoints"], rtol=1e-6)
    rc = main(["import", str(tmp_path / "proj"), "--coco-keypoints", str(h36m), "--no-correspondences"])
    out = capsys.readouterr().out
    assert rc == 0 and f"note: {len(sizes)} image(s) are not on disk" in out and "keypoint-only" in out
    with Project.open(tmp_path / "proj", readonly=True) as project:
        assert project.summary()["persons"] == len(people)
        record = project.person(project.person_ids()[0])
        np.testing.assert_allclose(record.keypoints, people[0].keypoints)
