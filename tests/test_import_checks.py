"""Imports check what they do not decode (issue 15, item 10): empty, non-image and truncated images, a
one-channel IUV image, keypoint visibility 7, an image name leading outside --images. Each is refused before
the project is touched, with one line naming the file (and the annotation); intact files still import."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from deformlearn.core.cli.parser import main
from deformlearn.core.densepose.annotation_files import image_size
from deformlearn.core.densepose.coco import read_coco_keypoints
from deformlearn.core.densepose.records import AnnotationError
from deformlearn.core.project.people import check_keypoints


def _photo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), (np.random.default_rng(0).random((96, 80, 3)) * 255).astype(np.uint8))
    return path


def _coco(path: Path, file_name: str, visibility: float = 2, dense: bool = True) -> Path:
    keypoints = []
    for i in range(17):
        keypoints += [10 + 3 * i, 20 + 2 * i, visibility if i == 5 else 2]
    ann = {"id": 7, "image_id": 1, "category_id": 1, "bbox": [5, 5, 60, 80], "keypoints": keypoints}
    if dense:
        ann.update(dp_I=[1.0, 2.0], dp_U=[0.5, 0.4], dp_V=[0.5, 0.6], dp_x=[100.0, 120.0], dp_y=[100.0, 130.0])
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": file_name, "width": 80, "height": 96}],
                                "annotations": [ann]}))
    return path


def _import(capsys, project: Path, *source: str) -> tuple[int, str]:
    code = main(["import", str(project), *source, "--no-correspondences"])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.fixture
def images(tmp_path) -> Path:
    good = _photo(tmp_path / "images" / "good.jpg")
    data = good.read_bytes()
    (tmp_path / "images" / "empty.jpg").write_bytes(b"")
    (tmp_path / "images" / "notes.jpg").write_bytes(b"shopping list, not a photo\n")
    (tmp_path / "images" / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    cv2.imwrite(str(tmp_path / "images" / "cut.png"), cv2.imread(str(good)))
    png = (tmp_path / "images" / "cut.png").read_bytes()
    (tmp_path / "images" / "cut.png").write_bytes(png[:-40])
    (tmp_path / "images" / "motion.jpg").write_bytes(data + b"\x00\x00\x00\x18ftypmp42" + bytes(5000))
    return tmp_path / "images"


@pytest.mark.parametrize(("name", "problem"), [
    ("empty.jpg", "empty file (0 bytes)"), ("notes.jpg", "not a readable image"),
    ("cut.jpg", "truncated JPEG image"), ("cut.png", "truncated PNG image"),
])
def test_bad_images_of_a_coco_import_are_refused_naming_the_file(tmp_path, images, capsys, name, problem):
    annotations = _coco(tmp_path / "ann.json", name)
    code, out = _import(capsys, tmp_path / "p", "--coco-densepose", str(annotations), "--images", str(images))
    # was: exit 0, "added 1 new people"; the bad image failed later, in registration or the app
    assert code != 0 and len(out.strip().splitlines()) == 1
    assert f"{annotations}: annotation 7: {images / name}: {problem}" in out
    assert not (tmp_path / "p").exists()


def test_intact_images_import_and_data_after_a_jpeg_end_is_allowed(tmp_path, images, capsys):
    assert image_size(images / "motion.jpg") == (80, 96)  # a phone's motion photo: a video after the JPEG
    code, out = _import(capsys, tmp_path / "p", "--coco-densepose", str(_coco(tmp_path / "ann.json", "good.jpg")),
                        "--images", str(images))
    assert code == 0 and "added 1 new people" in out


def test_an_image_name_leading_outside_the_images_folder_is_not_read(tmp_path, images, capsys):
    outside = _photo(tmp_path / "elsewhere" / "private.jpg")
    for name in (str(outside), "../elsewhere/private.jpg"):
        annotations = _coco(tmp_path / "ann.json", name)
        code, out = _import(capsys, tmp_path / "p", "--coco-densepose", str(annotations), "--images", str(images))
        assert code != 0 and "leads outside that folder" in out and not (tmp_path / "p").exists()  # was: imported
    (person,) = read_coco_keypoints(_coco(tmp_path / "kp.json", str(outside), dense=False), images)
    assert Path(person.image_file) == images / "private.jpg" and person.image_missing
    (images / "sub").mkdir()
    (person,) = read_coco_keypoints(_coco(tmp_path / "kp.json", "sub/../good.jpg", dense=False), images)
    assert not person.image_missing  # '..' that stays inside the folder is fine


def test_keypoint_visibility_outside_coco_values_is_refused(tmp_path, images, capsys):
    annotations = _coco(tmp_path / "ann.json", "good.jpg", visibility=7)
    code, out = _import(capsys, tmp_path / "p", "--coco-densepose", str(annotations), "--images", str(images))
    assert code != 0 and f"{annotations}: annotation 7: keypoint visibility must be 0, 1 or 2; keypoint 5 has 7" in out
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:, 2] = [0, 0.3, 1, 2] + [2] * 13
    check_keypoints(keypoints, "edit")  # missing, a detector's confidence, COCO's 1 and 2
    keypoints[3, 2] = 1.5
    with pytest.raises(ValueError, match="edit: keypoint 3 has visibility 1.5"):
        check_keypoints(keypoints, "edit")


def test_a_one_channel_iuv_image_is_refused_naming_it(tmp_path, capsys):
    folder = tmp_path / "iuv"
    _photo(folder / "a.jpg")
    gray = np.zeros((96, 80), np.uint8)
    gray[20:70, 20:60] = 2
    cv2.imwrite(str(folder / "a_IUV.png"), gray)
    code, out = _import(capsys, tmp_path / "p", "--iuv", str(folder))
    # was: "cannot tell the channel order" (cv2 had copied the one channel into three)
    assert code != 0 and f"{folder / 'a_IUV.png'}: an IUV image needs 3 channels (part index, U, V), this one has 1" in out
    iuv = np.zeros((96, 80, 4), np.uint8)  # with an alpha channel, which is dropped
    iuv[20:70, 20:60] = (2, 128, 64, 255)
    cv2.imwrite(str(folder / "a_IUV.png"), iuv)
    code, out = _import(capsys, tmp_path / "p", "--iuv", str(folder))
    assert code == 0 and "added 1 new people" in out


def test_a_truncated_photo_beside_an_iuv_image_is_refused(tmp_path, capsys):
    folder = tmp_path / "iuv"
    data = _photo(folder / "a.jpg").read_bytes()
    (folder / "a.jpg").write_bytes(data[:200])
    iuv = np.zeros((96, 80, 3), np.uint8)
    iuv[20:70, 20:60] = (2, 128, 64)
    cv2.imwrite(str(folder / "a_IUV.png"), iuv)
    with pytest.raises(AnnotationError, match="a.jpg: (truncated JPEG image|not a readable image)"):
        from deformlearn.core.densepose.readers import read_people

        read_people("iuv", folder)
    code, out = _import(capsys, tmp_path / "p", "--iuv", str(folder))
    assert code != 0 and "a.jpg" in out and not (tmp_path / "p").exists()


def test_a_refused_import_into_a_new_folder_creates_no_project(tmp_path, images, capsys) -> None:
    coco = _coco(tmp_path / "big.json", "good.jpg", dense=False)
    doc = json.loads(coco.read_text())
    doc["annotations"][0]["keypoints"][0] = 1e39  # finite as float64, inf as the float32 the project stores
    coco.write_text(json.dumps(doc))
    code, out = _import(capsys, tmp_path / "new", "--coco-keypoints", str(coco), "--images", str(images))
    assert code != 0 and "non-finite values after conversion to float32" in out and "ann=7" in out
    assert not (tmp_path / "new").exists() or not any((tmp_path / "new").iterdir())


@pytest.mark.parametrize(("value", "problem"), [(5, r"got a number \(5\)"), (2.5, r"got a number \(2\.5\)")])
def test_a_number_where_a_list_of_numbers_belongs_is_named_so(tmp_path, images, value, problem) -> None:
    coco = _coco(tmp_path / "a.json", "good.jpg", dense=False)
    doc = json.loads(coco.read_text())
    doc["annotations"][0]["bbox"] = value
    coco.write_text(json.dumps(doc))
    # was: "got a int" / "got a float"
    with pytest.raises(AnnotationError, match=rf"a\.json: annotation 7: 'bbox' must be a list of numbers; {problem}$"):
        read_coco_keypoints(coco, images)
