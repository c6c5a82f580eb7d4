"""IUV import as people publish it: optional INDS, photos elsewhere, suffix variants, channel order from the data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from deformlearn.core.cli.parser import main
from deformlearn.core.densepose.iuv_images import read_iuv_inference, region_instances
from deformlearn.core.densepose.iuv_layout import detect_iuv_order, find_iuv_files, iuv_planes
from deformlearn.core.densepose.readers import AnnotationError, read_people

H, W = 60, 80


def _two_people() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """part (H, W) 0..24, u, v (H, W) uint8, inds (H, W): two separate people and a 3-pixel speck."""
    part = np.zeros((H, W), np.uint8)
    part[5:45, 5:25] = 2
    part[25:45, 5:15] = 15
    part[10:55, 45:70] = 1
    part[52:55, 0:1] = 4  # speck: noise under min_person_pixels
    rows, cols = np.mgrid[0:H, 0:W]
    u = np.where(part > 0, 30 + 2 * cols, 0).astype(np.uint8)
    v = np.where(part > 0, 200 - 2 * rows, 0).astype(np.uint8)
    inds = np.zeros((H, W), np.uint8)
    inds[part > 0] = 1
    inds[:, 40:][part[:, 40:] > 0] = 2
    return part, u, v, inds


def _write_output(folder, stem: str, order: str, *, suffix: str = "_IUV", inds: bool = True, photo_dir=None,
                  photo_ext: str = ".jpg") -> None:
    """Write one DensePose-style output: the IUV png with R, G, B holding `order`, INDS, photo."""
    part, u, v, inds_map = _two_people()
    planes = {"I": part, "U": u, "V": v}
    rgb = np.stack([planes[c] for c in order], axis=-1)
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / f"{stem}{suffix}.png"), rgb[..., ::-1])
    if inds:
        cv2.imwrite(str(folder / f"{stem}_INDS.png"), inds_map)
    photo_dir = folder if photo_dir is None else photo_dir
    photo_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(photo_dir / f"{stem}{photo_ext}"), np.full((H, W, 3), 128, np.uint8))


def _check_read(people, part, u, v) -> None:
    for p in people:
        col, row = p.dense.xy.astype(int).T
        np.testing.assert_array_equal(p.dense.part, part[row, col])
        np.testing.assert_allclose(p.dense.uv[:, 0] * 255, u[row, col], atol=1e-3)
        np.testing.assert_allclose(p.dense.uv[:, 1] * 255, v[row, col], atol=1e-3)


@pytest.mark.parametrize("order", ["VUI", "IUV"])
def test_channel_order_detected_both_ways(tmp_path, order):
    part, u, v, _ = _two_people()
    _write_output(tmp_path, "frame", order)
    bgr = cv2.imread(str(tmp_path / "frame_IUV.png"))
    assert detect_iuv_order(bgr[..., ::-1], "x") == order
    people = read_people("iuv", tmp_path)
    assert [p.source_key for p in people] == ["frame_IUV.png#inst=1", "frame_IUV.png#inst=2"]
    _check_read(people, part, u, v)
    forced = read_people("iuv", tmp_path, iuv_order=order)
    assert all(np.array_equal(a.dense.uv, b.dense.uv) for a, b in zip(people, forced))
    wrong = "IUV" if order == "VUI" else "VUI"  # forcing the other order reads U*255 > 24 as the part index
    with pytest.raises(AnnotationError, match=rf"frame_IUV\.png: part channel .* order {wrong}\) holds \d+ > 24"):
        read_people("iuv", tmp_path, iuv_order=wrong)


def test_ambiguous_channel_order_asks_for_iuv_order(tmp_path):
    part, u, v, _ = _two_people()
    small_u = (u > 0).astype(np.uint8) * 7  # U holds values 0..24 too: both I and U could be the part index
    _write_output(tmp_path, "a", "IUV")
    cv2.imwrite(str(tmp_path / "a_IUV.png"), np.stack([part, small_u, v], axis=-1)[..., ::-1])
    with pytest.raises(AnnotationError, match=r"a_IUV\.png: cannot tell the channel order: channels R and G .*--iuv-order"):
        read_people("iuv", tmp_path)
    (p, _) = read_people("iuv", tmp_path, iuv_order="IUV")
    assert set(np.unique(p.dense.uv[:, 0] * 255).round().tolist()) == {7.0}
    green = np.stack([v, part, u], axis=-1)  # part in green: U and V cannot be told apart
    with pytest.raises(AnnotationError, match="only the green channel"):
        iuv_planes(green[..., ::-1], "auto", "g.png")
    with pytest.raises(AnnotationError, match="no channel"):
        iuv_planes(np.full((4, 4, 3), 200, np.uint8), "auto", "g.png")


def test_without_inds_one_person_per_region(tmp_path):
    part, u, v, _ = _two_people()
    _write_output(tmp_path, "solo", "VUI", suffix="_iuv", inds=False)
    people = read_people("iuv", tmp_path)
    assert [p.source_key for p in people] == ["solo_iuv.png#region=1", "solo_iuv.png#region=2"]
    assert all(p.inds_file is None for p in people)
    np.testing.assert_allclose(people[0].bbox, [4.5, 4.5, 20, 40])
    np.testing.assert_allclose(people[1].bbox, [44.5, 9.5, 25, 45])
    _check_read(people, part, u, v)


def test_region_instances_drop_noise_and_join_fragments():
    part = np.zeros((50, 50), np.int64)
    part[5:45, 5:25] = 1  # 800-pixel body
    part[5:10, 30:36] = 3  # 30-pixel hand, cut off by an occluder: joins the body
    part[48, 48] = 5  # noise
    labels = region_instances(part, min_person_pixels=20)
    assert labels.max() == 1 and labels[7, 33] == 1 and labels[48, 48] == 0
    labels = region_instances(part, min_person_pixels=20, join_fraction=0.01)
    assert labels.max() == 2 and labels[7, 33] == 2
    assert region_instances(np.zeros((5, 5), np.int64), 1).max() == 0


def test_photos_in_another_folder_and_name_variants(tmp_path):
    out, photos = tmp_path / "densepose_out", tmp_path / "photos"
    _write_output(out, "a", "VUI", photo_dir=photos, photo_ext=".png")
    _write_output(out, "b", "VUI", suffix="_iuv", photo_dir=photos, photo_ext=".JPEG")
    _write_output(out, "c", "IUV", suffix="_IUV", photo_dir=out, photo_ext=".jpeg", inds=False)
    files = find_iuv_files(out, photos)
    assert [(f.image.name, f.iuv.name, f.inds and f.inds.name) for f in files] == [
        ("a.png", "a_IUV.png", "a_INDS.png"), ("b.JPEG", "b_iuv.png", "b_INDS.png"), ("c.jpeg", "c_IUV.png", None)]
    people = read_people("iuv", out, images_dir=photos)
    assert len(people) == 6 and {p.image_size for p in people} == {(W, H)}
    with pytest.raises(AnnotationError, match=r"a_IUV\.png: no photo a\.jpg/\.jpeg/\.png/\.bmp in .*--images"):
        read_people("iuv", out)
    with pytest.raises(AnnotationError, match=r"no \*_IUV\.png or \*_iuv\.png files"):
        read_people("iuv", photos)


def test_import_cli_reads_iuv_in_red_without_inds(tmp_path, capsys):
    _write_output(tmp_path / "out", "x", "IUV", inds=False, photo_dir=tmp_path / "photos")
    rc = main(["import", str(tmp_path / "proj"), "--iuv", str(tmp_path / "out"), "--images", str(tmp_path / "photos"),
               "--no-correspondences"])
    assert rc == 0 and "read 2 people (2 with dense points)" in capsys.readouterr().out
    rc = main(["import", str(tmp_path / "proj2"), "--iuv", str(tmp_path / "out"), "--images", str(tmp_path / "photos"),
               "--iuv-order", "VUI", "--no-correspondences"])
    assert rc == 2 and "part channel (blue, order VUI)" in capsys.readouterr().err


def test_real_iuv_rewritten_in_red_reads_the_same(shared_data, tmp_path):
    dp = shared_data / "densepose"
    bgr = cv2.imread(str(dp / "seated_im_IUV.png"))
    cv2.imwrite(str(tmp_path / "seated_iuv.png"), bgr[..., ::-1])  # file RGB order I, U, V
    original = read_iuv_inference(dp / "seated_im.jpg", dp / "seated_im_IUV.png", dp / "seated_im_INDS.png")
    (red,) = read_iuv_inference(dp / "seated_im.jpg", tmp_path / "seated_iuv.png")
    assert len(original) == 1 and red.source_key == "seated_iuv.png#region=1"
    col, row = red.dense.xy.astype(int).T
    np.testing.assert_array_equal(red.dense.part, bgr[row, col, 0])
    np.testing.assert_allclose(red.dense.uv * 255, bgr[row, col, 1:].astype(np.float32), atol=1e-3)
    np.testing.assert_allclose(red.bbox, original[0].bbox)
