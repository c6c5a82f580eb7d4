"""Readers: every real sample imports, points land on the people, and bad inputs fail naming the file."""

from __future__ import annotations

import base64
import codecs
import io
import json
import os
import pickle
import sys
import types
from fractions import Fraction

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from deformlearn.core.densepose.iuv_images import read_iuv_inference, sample_part_pixels
from deformlearn.core.densepose.readers import AnnotationError, read_people


def _check_people(people, expect_dense: bool) -> None:
    for p in people:
        W, H = p.image_size
        assert p.keypoints.shape == (17, 3) and p.bbox.shape == (4,)
        if not expect_dense:
            assert p.dense is None
            continue
        d = p.dense
        assert len(d) > 0 and d.xy.dtype == np.float32 and d.part.dtype == np.int64
        assert d.part.min() >= 1 and d.part.max() <= 24 and d.uv.min() >= 0 and d.uv.max() <= 1
        assert (d.xy[:, 0] >= -0.5).all() and (d.xy[:, 0] <= W - 0.5).all()
        assert (d.xy[:, 1] >= -0.5).all() and (d.xy[:, 1] <= H - 0.5).all()


def test_every_shared_sample_imports(shared_data):
    dp, coco = shared_data / "densepose", shared_data / "coco"
    iuv_people = read_people("iuv", dp)
    assert {p.image_file.split("/")[-1] for p in iuv_people} == {"demo_im.jpg", "seated_im.jpg"}
    assert len(iuv_people) == 13  # 12 street people of >= 50 pixels + the seated person
    _check_people(iuv_people, True)

    kp_people = read_people("coco-keypoints", coco / "test_coco.json", images_dir=coco)
    assert len(kp_people) == 14 and len({p.image_file for p in kp_people}) == 4
    _check_people(kp_people, False)
    assert kp_people[0].keypoints[0].tolist() == [367, 81, 2]  # nose of annotation 442619
    # the COCO reader with dense enabled reads the keypoint-only file too (no dp_* fields: dense None)
    assert all(p.dense is None for p in read_people("coco-densepose", coco / "test_coco.json", images_dir=coco))

    results = read_people("densepose-results", dp / "example_results.json", images_dir=coco,
                          skip_missing_images=True, min_score=0.0)
    assert len(results) == 1 and results[0].image_file.endswith("000000000785.jpg")
    _check_people(results, True)

    (single,) = read_people("densepose-pickle", dp / "demo_dp_single_ann.pkl")  # numpy-only unpickler
    assert len(single.dense) == 125 and single.image.shape == (355, 341, 3) and single.image_size == (341, 355)
    _check_people([single], True)


def test_iuv_points_fall_inside_their_inds_mask(shared_data):
    dp = shared_data / "densepose"
    for stem in ("demo_im", "seated_im"):
        people = read_iuv_inference(dp / f"{stem}.jpg", dp / f"{stem}_IUV.png", dp / f"{stem}_INDS.png")
        inds = cv2.imread(str(dp / f"{stem}_INDS.png"), cv2.IMREAD_UNCHANGED)
        iuv = cv2.imread(str(dp / f"{stem}_IUV.png"))
        for p in people:
            instance = int(p.source_key.split("=")[-1])
            col, row = np.round(p.dense.xy).astype(int).T
            assert (inds[row, col] == instance).mean() >= 0.99
            # channel order: cv2 gives [I, U*255, V*255]
            np.testing.assert_array_equal(iuv[row, col, 0], p.dense.part)
            np.testing.assert_allclose(p.dense.uv * 255, iuv[row, col, 1:].astype(np.float32), atol=1e-3)
            assert np.bincount(p.dense.part).max() <= 14


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools under numpy 2
def test_results_points_fall_on_the_coco_person(shared_data):
    """The challenge results box of image 785 decodes onto the annotated skier (COCO segmentation)."""
    coco = json.loads((shared_data / "coco" / "test_coco.json").read_text())
    ann = next(a for a in coco["annotations"] if a["image_id"] == 785)
    mask = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], 425, 640)))
    (person,) = read_people("densepose-results", shared_data / "densepose" / "example_results.json",
                            images_dir=shared_data / "coco", skip_missing_images=True)
    col, row = np.round(person.dense.xy).astype(int).T
    assert mask[row, col].mean() > 0.9


def test_sampling_is_per_part_and_seeded():
    part = np.zeros((40, 40), np.int64)
    part[:20] = 3
    part[20:, :5] = 7
    mask = np.ones_like(part, dtype=bool)
    r1 = sample_part_pixels(part, mask, 10, np.random.default_rng(1))
    r2 = sample_part_pixels(part, mask, 10, np.random.default_rng(1))
    r3 = sample_part_pixels(part, mask, 10, np.random.default_rng(2))
    assert np.array_equal(r1[0], r2[0]) and not np.array_equal(r1[0], r3[0])
    counts = np.bincount(part[r1], minlength=25)
    assert counts[3] == counts[7] == 10 and counts.sum() == 20
    small = np.zeros((4, 4), np.int64)
    small[0, :3] = 5
    assert len(sample_part_pixels(small, small > 0, 10, np.random.default_rng(0))[0]) == 3  # fewer than asked: all
    with pytest.raises(ValueError, match="points_per_part"):
        sample_part_pixels(part, mask, 0, np.random.default_rng(0))


def _densepose_coco_json(shared_data, tmp_path):
    """A DensePose-COCO file built from the real single annotation: its crop as the image, box = crop."""
    demo = read_people("densepose-pickle", shared_data / "densepose" / "demo_dp_single_ann.pkl")[0]
    cv2.imwrite(str(tmp_path / "crop.png"), demo.image)
    W, H = demo.image_size
    box = [0.0, 0.0, float(W), float(H)]
    coarse = np.zeros((256, 256), np.uint8, order="F")
    coarse[40:200, 60:180] = 1
    rle = mask_utils.encode(np.asfortranarray(coarse))
    rle["counts"] = rle["counts"].decode("ascii")
    ann = {
        "id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": box, "num_keypoints": 0,
        "keypoints": [0] * 51, "dp_I": demo.dense.part.tolist(), "dp_U": demo.dense.uv[:, 0].tolist(),
        "dp_V": demo.dense.uv[:, 1].tolist(), "dp_x": (demo.dense.xy[:, 0] / W * 256).tolist(),
        "dp_y": (demo.dense.xy[:, 1] / H * 256).tolist(), "dp_masks": [rle] + [[]] * 13,
    }
    data = {"images": [{"id": 1, "file_name": "crop.png", "width": W, "height": H}], "annotations": [ann],
            "categories": [{"id": 1, "name": "person"}]}
    path = tmp_path / "densepose_coco_2014_test.json"
    path.write_text(json.dumps(data))
    return path, demo, coarse, data


def test_coco_densepose_256_frame_and_masks(shared_data, tmp_path):
    path, demo, coarse, _ = _densepose_coco_json(shared_data, tmp_path)
    (p,) = read_people("coco-densepose", path, images_dir=tmp_path)
    np.testing.assert_allclose(p.dense.xy, demo.dense.xy, atol=1e-3)
    np.testing.assert_array_equal(p.dense.part, demo.dense.part)
    np.testing.assert_array_equal(p.coarse_mask, coarse)
    assert p.source_key == "densepose_coco_2014_test.json#ann=7"


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["annotations"][0].update(dp_I="3"), r"annotation 7: 'dp_I' must be a list of numbers"),
    (lambda d: d["annotations"][0].update(dp_U=[0.5]), r"annotation 7: dp_\* lists differ in length"),
    (lambda d: d["annotations"][0].update(dp_I=[30] * len(d["annotations"][0]["dp_I"])), r"part indices 1..24"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotation 7: 'bbox' has 3 values"),
    (lambda d: d["images"][0].update(file_name="gone.jpg"), r"image 'gone.jpg' not found"),
    (lambda d: d["images"][0].update(width="wide"), r"image 1: 'width' must be a positive integer"),
    (lambda d: d.pop("images"), r"not a COCO annotation file"),
])
def test_malformed_coco_names_file_and_problem(shared_data, tmp_path, mutate, message):
    path, _, _, data = _densepose_coco_json(shared_data, tmp_path)
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=message) as info:
        read_people("coco-densepose", path, images_dir=tmp_path)
    assert str(path) in str(info.value)


def test_truncated_json_names_file(shared_data, tmp_path):
    text = (shared_data / "coco" / "test_coco.json").read_text()
    bad = tmp_path / "cut.json"
    bad.write_text(text[: len(text) // 2])
    with pytest.raises(AnnotationError, match=r"cut\.json: not valid JSON"):
        read_people("coco-keypoints", bad, images_dir=shared_data / "coco")
    with pytest.raises(AnnotationError, match=r"missing\.json: file not found"):
        read_people("coco-keypoints", tmp_path / "missing.json", images_dir=tmp_path)


def test_iuv_of_wrong_size_and_missing_partners(shared_data, tmp_path):
    dp = shared_data / "densepose"
    image = cv2.imread(str(dp / "seated_im.jpg"))
    cv2.imwrite(str(tmp_path / "a.jpg"), image)
    cv2.imwrite(str(tmp_path / "a_IUV.png"), cv2.imread(str(dp / "seated_im_IUV.png"))[:-10])
    cv2.imwrite(str(tmp_path / "a_INDS.png"), cv2.imread(str(dp / "seated_im_INDS.png"), cv2.IMREAD_UNCHANGED))
    with pytest.raises(AnnotationError, match=r"a_IUV\.png: size 569x749 does not match the image a\.jpg \(569x759\)"):
        read_people("iuv", tmp_path)
    (tmp_path / "a_INDS.png").unlink()  # INDS is optional; the photo is not
    (tmp_path / "a.jpg").unlink()
    with pytest.raises(AnnotationError, match=r"a_IUV\.png: no photo a\.jpg/\.jpeg/\.png/\.bmp in "):
        read_people("iuv", tmp_path)


def test_results_errors(shared_data, tmp_path):
    results = shared_data / "densepose" / "example_results.json"
    with pytest.raises(AnnotationError, match=r"example_results\.json: detection 1: image 872 .* not found"):
        read_people("densepose-results", results, images_dir=shared_data / "coco")
    data = json.loads(results.read_text())[:1]
    data[0]["uv_shape"] = [3, 10, 10]
    bad = tmp_path / "res.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=r"res\.json: detection 0: 'uv_data' decodes to \[3, 342, 215\]"):
        read_people("densepose-results", bad, images_dir=shared_data / "coco")


def test_pickles_need_trust(shared_data, tmp_path):
    single = shared_data / "densepose" / "demo_dp_single_ann.pkl"
    with pytest.raises(AnnotationError, match=r"demo_dp_single_ann\.pkl: refusing to unpickle"):
        read_people("detectron2-dump", single)
    # the numpy-only unpickler refuses any other class, without running it
    sneaky = tmp_path / "sneaky.pkl"
    sneaky.write_bytes(pickle.dumps({"I": Fraction(1, 2)}))
    with pytest.raises(AnnotationError, match=r"sneaky\.pkl: not a readable pickle .*fractions\.Fraction"):
        read_people("densepose-pickle", sneaky)


def _fake_dump(tmp_path, image_file: str) -> tuple:
    """An apply_net dump written with stand-ins for DensePose's result class (detectron2 is not installed)."""
    module = types.ModuleType("densepose.structures.chart_result")

    class DensePoseChartResultWithConfidences:
        def __init__(self, labels, uv):
            self.labels, self.uv = labels, uv

    DensePoseChartResultWithConfidences.__module__ = module.__name__
    DensePoseChartResultWithConfidences.__qualname__ = "DensePoseChartResultWithConfidences"
    module.DensePoseChartResultWithConfidences = DensePoseChartResultWithConfidences
    labels = torch.zeros(60, 40, dtype=torch.long)
    labels[10:50, 5:35] = 2
    labels[10:30, 5:20] = 15
    uv = torch.rand(2, 60, 40)
    entry = {"file_name": image_file, "scores": torch.tensor([0.9, 0.2]),
             "pred_boxes_XYXY": torch.tensor([[100.0, 50.0, 140.0, 110.0], [0.0, 0.0, 5.0, 5.0]]),
             "pred_densepose": [DensePoseChartResultWithConfidences(labels, uv),
                                DensePoseChartResultWithConfidences(labels, uv)]}
    fake = {"densepose": types.ModuleType("densepose"),
            "densepose.structures": types.ModuleType("densepose.structures"), module.__name__: module}
    assert not set(fake) & set(sys.modules)
    sys.modules.update(fake)
    try:
        path = tmp_path / "dump.pkl"
        path.write_bytes(pickle.dumps([entry]))
    finally:
        for name in fake:
            del sys.modules[name]
    return path, labels.numpy(), uv.numpy()


def test_detectron2_dump_trusted(shared_data, tmp_path):
    path, labels, uv = _fake_dump(tmp_path, "/elsewhere/000000000785.jpg")
    with pytest.raises(AnnotationError, match="refusing to unpickle"):
        read_people("detectron2-dump", path, images_dir=shared_data / "coco")
    (p,) = read_people("detectron2-dump", path, trust_pickle=True, images_dir=shared_data / "coco")
    assert p.image_size == (640, 425) and p.score == pytest.approx(0.9)
    np.testing.assert_allclose(p.bbox, [100, 50, 40, 60])
    col = np.round(p.dense.xy[:, 0] - 100).astype(int)
    row = np.round(p.dense.xy[:, 1] - 50).astype(int)
    np.testing.assert_array_equal(labels[row, col], p.dense.part)
    np.testing.assert_allclose(uv[0, row, col], p.dense.uv[:, 0], atol=1e-6)
    assert sorted(set(p.dense.part.tolist())) == [2, 15] and len(p.dense) == 28
    with pytest.raises(AnnotationError, match=r"image '/elsewhere/000000000785\.jpg' not found"):
        read_people("detectron2-dump", path, trust_pickle=True, images_dir=tmp_path)


def test_results_decode_matches_encoder(tmp_path, shared_data):
    """Round trip through the challenge encoding: [I, U*255, V*255] png per box, base64."""
    iuv = np.zeros((20, 30, 3), np.uint8)
    iuv[5:15, 10:20] = (4, 128, 64)
    buf = io.BytesIO()
    Image.fromarray(iuv).save(buf, format="PNG")
    det = {"image_id": 785, "category_id": 1, "score": 0.99, "bbox": [10.0, 20.0, 30.0, 20.0],
           "uv_shape": [3, 20, 30], "uv_data": base64.b64encode(buf.getvalue()).decode()}
    path = tmp_path / "r.json"
    path.write_text(json.dumps([det]))
    (p,) = read_people("densepose-results", path, images_dir=shared_data / "coco", points_per_part=1000)
    assert len(p.dense) == 100 and set(p.dense.part.tolist()) == {4}
    np.testing.assert_allclose(p.dense.uv, np.tile([128 / 255, 64 / 255], (100, 1)), atol=1e-6)
    assert p.dense.xy[:, 0].min() == pytest.approx(20) and p.dense.xy[:, 1].max() == pytest.approx(34)


def test_dense_points_that_overflow_float32_name_the_file_and_annotation(shared_data, tmp_path):
    path, _, _, data = _densepose_coco_json(shared_data, tmp_path)
    data["annotations"][0]["dp_x"][3] = 1e40  # finite as float64, inf once scaled and stored as float32
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=rf"{path}: annotation 7: dense point 3 .*not finite") as info:
        read_people("coco-densepose", path, images_dir=tmp_path)  # was: "DensePoints: non-finite xy or uv"
    assert "as float32" in str(info.value)
    demo = pickle.loads((shared_data / "densepose" / "demo_dp_single_ann.pkl").read_bytes(), encoding="latin1")
    demo["y"][5] = np.nan
    bad = tmp_path / "nan_demo.pkl"
    bad.write_bytes(pickle.dumps(demo))
    with pytest.raises(AnnotationError, match=r"nan_demo\.pkl: person 0: dense point 5 of 125 is not finite"):
        read_people("densepose-pickle", bad)


@pytest.mark.parametrize("value, problem", [
    ([1, "two", 3], r"element 1 is a string \('two'\)"), ([1, None, 3], "element 1 is null"),
    ([1, True, 3], r"element 1 is a boolean \(True\)"), ([1, [2], 3], "element 1 is a list"),
    ("3", r"got a string \('3'\)"), ({"x": 1}, "got an object"),
])
def test_a_number_list_says_which_element_is_not_a_number(shared_data, tmp_path, value, problem):
    path, _, _, data = _densepose_coco_json(shared_data, tmp_path)
    data["annotations"][0]["dp_x"] = value
    path.write_text(json.dumps(data))
    with pytest.raises(AnnotationError, match=rf"annotation 7: 'dp_x' must be a list of numbers; {problem}"):
        read_people("coco-densepose", path, images_dir=tmp_path)  # was: "... must be a list of numbers, got list"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_resaved_demo_pickle_loads_without_trust(shared_data, tmp_path, protocol):
    """Protocols 0-2 store numpy's bytes through `_codecs.encode(text, 'latin1')` (was refused as a global)."""
    original = shared_data / "densepose" / "demo_dp_single_ann.pkl"
    resaved = tmp_path / "resaved.pkl"
    resaved.write_bytes(pickle.dumps(pickle.loads(original.read_bytes(), encoding="latin1"), protocol=protocol))
    (a,), (b,) = read_people("densepose-pickle", original), read_people("densepose-pickle", resaved)
    np.testing.assert_array_equal(a.dense.xy, b.dense.xy)
    np.testing.assert_array_equal(a.dense.uv, b.dense.uv)
    np.testing.assert_array_equal(a.image, b.image)


def test_a_protocol_2_payload_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    class OtherCodec:  # the one allowed function, asked for something other than latin-1 text to bytes
        def __reduce__(self):
            return (codecs.encode, ("import os", "rot13"))

    for name, payload in (("system", Payload()), ("codec", OtherCodec())):
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(pickle.dumps({"I": payload}, protocol=2))
        with pytest.raises(AnnotationError, match=rf"{name}\.pkl: not a readable pickle"):
            read_people("densepose-pickle", path)
    assert not marker.exists()


def test_json_nested_too_deeply_is_an_annotation_error_naming_the_file(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnnotationError, match=rf"{deep}: nested too deeply"):  # was: RecursionError (app traceback)
        read_people("coco-keypoints", deep, images_dir=tmp_path)
