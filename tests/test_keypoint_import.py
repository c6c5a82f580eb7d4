"""Keypoint-only people: OpenPose files with their confidences, and COCO keypoints whose images are absent."""

from __future__ import annotations

import json
from pathlib import Path

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
    h36m = tmp_path / "h36m_coco.json"  # a copy: its images are nowhere below its folder
    h36m.write_bytes((shared_data / "h36m" / "h36m_coco.json").read_bytes())
    people = read_people("coco-keypoints", h36m)
    data = json.loads(h36m.read_text())
    sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    assert len(people) == len(data["annotations"]) and all(p.image_missing for p in people)
    for p, ann in zip(people, data["annotations"]):
        assert p.image_size == sizes[ann["image_id"]]
    rc = main(["import", str(tmp_path / "proj"), "--coco-keypoints", str(h36m), "--no-correspondences"])
    out = capsys.readouterr().out
    assert rc == 0 and f"note: {len(sizes)} image(s) are not on disk" in out and "keypoint-only" in out
    with Project.open(tmp_path / "proj", readonly=True) as project:
        assert project.summary()["persons"] == len(people)
        record = project.person(project.person_ids()[0])
        np.testing.assert_allclose(record.keypoints, people[0].keypoints)


#: COCO-17 joint -> its index in Human3.6M's own order (pelvis, right leg, left leg, spine, thorax, neck, head,
#: left arm, right arm), written out by hand.
H36M_OF_COCO = {5: 11, 6: 14, 7: 12, 8: 15, 9: 13, 10: 16, 11: 4, 12: 1, 13: 5, 14: 2, 15: 6, 16: 3}


def test_human36m_names_are_mapped_to_coco(shared_data, tmp_path, capsys):
    h36m = shared_data / "h36m"
    data = json.loads((h36m / "h36m_coco.json").read_text())
    people = read_people("coco-keypoints", h36m / "h36m_coco.json", images_dir=h36m)
    assert len(people) == 4 and not any(p.image_missing for p in people)  # found in S1/S1_Directions_1.../
    assert [Path(p.image_file).relative_to(h36m).parts[0] for p in people] == ["S1", "S5", "S7", "S8"]
    for p, ann in zip(people, data["annotations"]):
        raw = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
        for coco, h in H36M_OF_COCO.items():
            np.testing.assert_allclose(p.keypoints[coco], raw[h], rtol=1e-6)
        np.testing.assert_array_equal(p.keypoints[:5], 0)  # nose, eyes, ears: no Human3.6M counterpart
        # the left hip lies on the left shoulder's side of the right one (the file's leg names say otherwise)
        hips, shoulders = p.keypoints[[11, 12], 0], p.keypoints[[5, 6], 0]
        assert (hips[0] - hips[1]) * (shoulders[0] - shoulders[1]) > 0
    rc = main(["import", str(tmp_path / "proj"), "--coco-keypoints", str(h36m / "h36m_coco.json"), "--images",
               str(h36m), "--no-correspondences"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and lines[0].startswith("read 4 people")
    assert lines[1] == ("note: h36m_coco.json: keypoints read as Human3.6M-17 (its category's joint names), mapped "
                        "to COCO-17: 12 joints; nose, left_eye, right_eye, left_ear, right_ear missing")
    assert not any("not on disk" in line for line in lines)


def _coco_file(tmp_path, names, keypoints):
    path = tmp_path / "kp.json"
    category = {"id": 1, "name": "person"} | ({"keypoints": names} if names is not None else {})
    path.write_text(json.dumps({
        "categories": [category], "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "bbox": [1, 2, 30, 40],
                         "keypoints": keypoints}]}))
    return path


def test_coco_names_in_another_order_are_mapped_by_name(tmp_path):
    order = list(reversed(COCO_KEYPOINT_NAMES))
    flat = [v for i in range(17) for v in (i, 100 + i, 2)]
    (person,) = read_people("coco-keypoints", _coco_file(tmp_path, order, flat))
    np.testing.assert_array_equal(person.keypoints[:, 0], np.arange(17)[::-1])
    (person,) = read_people("coco-keypoints", _coco_file(tmp_path, None, flat))  # no names: COCO's order
    np.testing.assert_array_equal(person.keypoints[:, 0], np.arange(17))


def test_unknown_layout_is_refused_naming_the_names(tmp_path):
    names = list(COCO_KEYPOINT_NAMES[:15]) + ["left_big_toe", "tail"]
    path = _coco_file(tmp_path, names, [0] * 51)
    with pytest.raises(AnnotationError, match=rf"{path}: .*neither COCO-17 nor Human3.6M-17; names not "
                                              r"recognised: 'left_big_toe', 'tail'$"):
        read_people("coco-keypoints", path)


def test_image_in_two_subfolders_is_refused(tmp_path):
    path = _coco_file(tmp_path, None, [0] * 51)
    for sub in ("S1", "S5"):
        (tmp_path / sub).mkdir()
        cv2.imwrite(str(tmp_path / sub / "a.jpg"), np.zeros((80, 100, 3), np.uint8))
    with pytest.raises(AnnotationError, match=r"annotation 7: image 'a.jpg' is found in 2 subfolders"):
        read_people("coco-keypoints", path, images_dir=tmp_path)
