"""The offline pose detector: BlazePose -> COCO-17 mapping, crops, the not-installed message, and real detections."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from deformlearn.core.body.skeletons import COCO_KEYPOINT_NAMES
from deformlearn.core.cli.detect import none_found
from deformlearn.core.cli.parser import main
from deformlearn.core.densepose.readers import read_people
from deformlearn.core.detection import (
    BLAZEPOSE_TO_COCO,
    DetectorNotInstalled,
    PoseDetector,
    blazepose_to_coco,
    detect_keypoints,
    detector_python,
)
from deformlearn.core.detection.landmarks import crop_box, person_crop
from deformlearn.core.project.store import Project

#: BlazePose's 33 landmark names in its order (MediaPipe's PoseLandmark enum).
BLAZEPOSE = ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
             "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
             "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
             "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
             "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index")


def test_blazepose_maps_to_coco_by_name():
    assert len(BLAZEPOSE) == 33
    assert tuple(BLAZEPOSE[i] for i in BLAZEPOSE_TO_COCO) == COCO_KEYPOINT_NAMES


def test_landmarks_to_image_pixels_and_confidences():
    lm = np.zeros((33, 3))
    lm[:, 0], lm[:, 1], lm[:, 2] = 0.5, 0.25, 0.9
    lm[11] = [0.0, 0.0, 0.7]  # left shoulder at the crop's top-left corner
    lm[12, 2] = 0.05  # right shoulder barely visible: missing
    lm[27] = [3.0, 0.5, 0.9]  # left ankle far right of the crop: outside the image
    kp = blazepose_to_coco(lm, np.array([100, 40, 200, 80]), image_size=(400, 300))
    assert kp.shape == (17, 3) and kp.dtype == np.float32
    np.testing.assert_allclose(kp[0], [199.5, 59.5, 0.9], rtol=1e-6)  # x0 + 0.5 * 200 - 0.5 (pixel centres)
    np.testing.assert_allclose(kp[5], [99.5, 39.5, 0.7], rtol=1e-6)
    np.testing.assert_array_equal(kp[6], 0)
    np.testing.assert_array_equal(kp[15], 0)
    with pytest.raises(ValueError, match=r"landmarks have shape \(17, 3\), expected \(33, 3\)"):
        blazepose_to_coco(np.zeros((17, 3)), np.array([0, 0, 1, 1]), (1, 1))


def test_crop_box_and_other_people_greyed():
    np.testing.assert_array_equal(crop_box(np.array([10.0, 20.0, 40.0, 80.0]), (100, 100)), [0, 0, 60, 100])
    np.testing.assert_array_equal(crop_box(np.array([40.0, 40.0, 20.0, 20.0]), (100, 100)), [35, 35, 30, 30])
    image = np.full((50, 50, 3), 200, np.uint8)
    others = np.zeros((50, 50), bool)
    others[10:20, 10:20] = True
    crop = person_crop(image, np.array([5, 5, 20, 20]), others)
    assert crop.shape == (20, 20, 3) and (crop[5:15, 5:15] == 128).all() and (crop[:5] == 200).all()


def test_not_installed_says_how_to_install(tmp_path, monkeypatch, capsys, shared_data):
    monkeypatch.setenv("DEFORMLEARN_DETECTOR_ENV", str(tmp_path / "nowhere"))
    with pytest.raises(DetectorNotInstalled, match=r"not installed .*nowhere.*deformlearn detector install"):
        detector_python()
    assert main(["detector", "status"]) == 2
    assert "deformlearn detector install" in capsys.readouterr().err
    rc = main(["import", str(tmp_path / "p"), "--iuv", str(shared_data / "densepose"), "--detect-keypoints"])
    err = capsys.readouterr().err
    assert rc == 2 and "--detect-keypoints: the pose detector is not installed" in err
    assert not (tmp_path / "p").exists()


@pytest.fixture(scope="module")
def detector():
    try:
        detector_python()
    except DetectorNotInstalled as exc:
        pytest.skip(str(exc))
    with PoseDetector() as running:
        yield running


def test_detects_the_seated_man_on_his_body(shared_data, detector):
    dp = shared_data / "densepose"
    (person,) = read_people("iuv", dp)[-1:]
    assert person.source_key == "seated_im_IUV.png#inst=1"
    (kp,), report = detect_keypoints([person], detector)
    assert report.found == 1 and (kp[:, 2] > 0.2).all()
    part = cv2.imread(str(dp / "seated_im_IUV.png"))[..., 0]
    col, row = np.round(kp[:, :2]).astype(int).T
    off_body = ndimage.distance_transform_edt(part == 0)[row, col]
    off_head = ndimage.distance_transform_edt(~np.isin(part, [23, 24]))[row, col]
    assert (off_body <= 3).sum() >= 15 and (off_head[:5] <= 5).all()  # nose, eyes and ears on the head
    y = kp[:, 1]
    assert y[:5].max() < y[5:7].min() and y[5:7].max() < y[11:13].min()  # head above shoulders above hips
    assert (y[15:17] > y[13:15]).all()  # ankles below knees
    assert (kp[[5, 7, 11], 0] > kp[[6, 8, 12], 0]).all()  # he faces us: his left side is on the image's right


def test_detect_command_fills_an_iuv_project(shared_data, detector, tmp_path, capsys):
    proj = tmp_path / "proj"
    assert main(["import", str(proj), "--iuv", str(shared_data / "densepose"), "--no-correspondences"]) == 0
    assert main(["detect", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "detected keypoints for" in out and "of 13 people" in out
    found = int(out.split("detected keypoints for ")[1].split()[0])
    if found < 13:  # those left without are named by id
        assert f"; none for {13 - found}: " in out and "(demo_im_IUV.png#inst=" in out
    with Project.open(proj, readonly=True) as project:
        counts = [int((project.person(pid).keypoints[:, 2] > 0).sum()) for pid in project.person_ids()]
    assert sum(c >= 12 for c in counts) >= 4  # the seated man and the three large street people
    assert main(["detect", str(proj)]) == 0
    assert f"of {counts.count(0)} people" in capsys.readouterr().out  # only those still without keypoints


def test_people_without_keypoints_are_named():
    assert none_found([]) == ""
    assert none_found(["4 (seated)", "7"]) == "; none for 2: 4 (seated), 7"
    labels = [str(i) for i in range(12)]
    assert none_found(labels) == "; none for 12: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 and 2 more"


def test_import_says_what_it_read_before_what_it_detected(shared_data, detector, tmp_path, capsys):
    rc = main(["import", str(tmp_path / "p"), "--iuv", str(shared_data / "densepose"), "--detect-keypoints",
               "--no-correspondences"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0 and lines[0].startswith("read 13 people") and lines[1].startswith("detected keypoints for ")
