"""Readers for COCO-format person annotations: DensePose-COCO (`densepose_coco_2014_*.json`) and plain COCO
keypoints (people with no dense points).

Dense points: `dp_x`, `dp_y` lie in a DP_FRAME x DP_FRAME frame spanning the person's box. We use the
256 convention (the one of DensePose's own evaluation and detectron2's DensePose dataset code):
`x_img = x0 + dp_x / 256 * w`, `y_img = y0 + dp_y / 256 * h`. The 14 coarse `dp_masks` are RLEs of
256 x 256 masks over the same box.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from deformlearn.core.body.skeletons import NUM_KEYPOINTS, NUM_PARTS
from deformlearn.core.densepose.annotation_files import find_image, image_path_in, image_size, load_json, number_list
from deformlearn.core.densepose.image_search import SubfolderImages
from deformlearn.core.densepose.keypoint_layouts import COCO_17_LAYOUT, KeypointLayout, keypoint_layout
from deformlearn.core.densepose.records import AnnotationError, DensePoints, PersonAnnotation, dense_points

#: Side of the box-spanning frame of dp_x, dp_y and dp_masks (x_img = x0 + dp_x / DP_FRAME * w).
DP_FRAME = 256
PERSON_CATEGORY_ID = 1
_NUM_COARSE = 14


def _coarse_mask(path: Path, where: str, masks: object) -> np.ndarray | None:
    """(256, 256) uint8 coarse part 0..14 from the 14 RLE `dp_masks` (later parts win on overlap)."""
    from pycocotools import mask as mask_utils

    if not isinstance(masks, list) or len(masks) != _NUM_COARSE:
        raise AnnotationError(f"{path}: {where}: 'dp_masks' must be a list of {_NUM_COARSE} RLE masks")
    out = np.zeros((DP_FRAME, DP_FRAME), dtype=np.uint8)
    for i, rle in enumerate(masks):
        if not rle:
            continue
        if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
            raise AnnotationError(f"{path}: {where}: dp_masks[{i}] is not an RLE with 'counts' and 'size'")
        try:
            counts = rle["counts"].encode("ascii") if isinstance(rle["counts"], str) else rle["counts"]
            with warnings.catch_warnings():  # pycocotools' Cython trips numpy 2's __array__(copy=) notice
                warnings.simplefilter("ignore", DeprecationWarning)
                if isinstance(counts, list):
                    decoded = mask_utils.decode(mask_utils.frPyObjects(rle, *rle["size"]))
                else:
                    decoded = mask_utils.decode({"counts": counts, "size": list(rle["size"])})
        except Exception as exc:  # pycocotools raises bare Exceptions/TypeErrors on bad RLEs
            raise AnnotationError(f"{path}: {where}: dp_masks[{i}] does not decode ({exc})") from exc
        if decoded.shape != (DP_FRAME, DP_FRAME):
            raise AnnotationError(f"{path}: {where}: dp_masks[{i}] is {decoded.shape}, expected 256 x 256")
        out[decoded > 0] = i + 1
    return out


def _dense_points(path: Path, where: str, ann: dict, bbox: np.ndarray) -> DensePoints:
    fields = {k: number_list(path, where, ann[k], k) for k in ("dp_I", "dp_U", "dp_V", "dp_x", "dp_y")}
    n = len(fields["dp_I"])
    if any(len(v) != n for v in fields.values()):
        sizes = {k: len(v) for k, v in fields.items()}
        raise AnnotationError(f"{path}: {where}: dp_* lists differ in length {sizes}")
    part = fields["dp_I"]
    if n and (np.any(part != np.round(part)) or part.min() < 1 or part.max() > NUM_PARTS):
        raise AnnotationError(f"{path}: {where}: 'dp_I' must hold part indices 1..{NUM_PARTS}")
    uv = np.stack([fields["dp_U"], fields["dp_V"]], axis=1)
    if n and (uv.min() < 0 or uv.max() > 1):
        raise AnnotationError(f"{path}: {where}: 'dp_U'/'dp_V' outside [0, 1]")
    x = bbox[0] + fields["dp_x"] / DP_FRAME * bbox[2]
    y = bbox[1] + fields["dp_y"] / DP_FRAME * bbox[3]
    return dense_points(f"{path}: {where}", xy=np.stack([x, y], axis=1), part=part.astype(np.int64), uv=uv)


def _check_image(path: Path, where: str, image_file: Path) -> tuple[int, int]:
    """(W, H) of a person's image, checked cheaply (`image_size`), errors naming the annotation too."""
    try:
        return image_size(image_file)
    except AnnotationError as exc:
        raise AnnotationError(f"{path}: {where}: {exc}") from exc


def _coco_images(path: Path, data: object) -> dict[int, dict]:
    """{image id: COCO image record} of a parsed file, after checking it has 'images' and 'annotations' lists
    and that each image has an integer id, a file name and a positive size."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(
            data.get("annotations"), list):
        raise AnnotationError(f"{path}: not a COCO annotation file (needs 'images' and 'annotations' lists)")
    images: dict[int, dict] = {}
    for k, im in enumerate(data["images"]):
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not isinstance(im.get("file_name"), str):
            raise AnnotationError(f"{path}: images[{k}] needs an integer 'id' and a string 'file_name'")
        for key in ("width", "height"):
            if not isinstance(im.get(key), int) or im[key] <= 0:
                raise AnnotationError(f"{path}: image {im['id']}: '{key}' must be a positive integer")
        images[im["id"]] = im
    return images


def _keypoints(path: Path, where: str, ann: dict, layout: KeypointLayout = COCO_17_LAYOUT) -> np.ndarray:
    """(17, 3) x, y pixels and COCO's visibility (0, 1 or 2) of an annotation, from the file's `layout`
    (keypoint_layouts); zeros without 'keypoints'."""
    if "keypoints" not in ann:
        return np.zeros((NUM_KEYPOINTS, 3))
    keypoints = number_list(path, where, ann["keypoints"], "keypoints", 3 * layout.count).reshape(-1, 3)
    bad = np.flatnonzero(~np.isin(keypoints[:, 2], (0, 1, 2)))
    if len(bad):
        raise AnnotationError(f"{path}: {where}: keypoint visibility must be 0, 1 or 2; keypoint {bad[0]} "
                              f"has {keypoints[bad[0], 2]:g}")
    return layout.to_coco(keypoints)


def _person_image(path: Path, where: str, images_dir: Path, file_name: str, needed: bool,
                  checked: dict[Path, tuple[int, int]], below: SubfolderImages) -> Path:
    """Where a person's image is: found inside `images_dir` or by name in its subfolders (`below`; checked
    once per file, `checked`), or, when it is not `needed` (a keypoint-only person), where it was looked for;
    AnnotationError when a needed one is missing."""
    image_file = find_image(images_dir, file_name) or below.find(f"{path}: {where}", file_name)
    if image_file is None and needed:
        outside = image_path_in(images_dir, file_name) != images_dir / file_name
        raise AnnotationError(f"{path}: {where}: image '{file_name}' not found in {images_dir}"
                              + (" (the name leads outside that folder: only its file name is looked for)"
                                 if outside else ""))
    if image_file is None:  # keypoint-only: the annotation's size stands in; overlays and the regressor need it
        return image_path_in(images_dir, file_name)
    if image_file not in checked:
        checked[image_file] = _check_image(path, where, image_file)
    return image_file


def read_coco_people(json_path: str | Path, images_dir: str | Path, *, with_dense: bool = True) -> list[PersonAnnotation]:
    """Every non-crowd person of a COCO-format file, with dense points where it has `dp_*` fields.

    Keypoints keep COCO's third column (0 not labelled, 1 labelled but occluded, 2 visible). People with
    dense points need their image under `images_dir`; keypoint-only people are read without it (the image
    size is the annotation's `width` and `height`; the path is where the image was looked for). Images are
    looked for only inside `images_dir` (a `file_name` leading outside it by its base name) and checked
    without decoding (annotation_files.image_size: empty, not an image, truncated). Bad fields (a keypoint
    visibility other than 0, 1, 2), a truncated file, a bad image or a missing image of a dense person raise
    AnnotationError naming the file and the problem.
    """
    path, images_dir = Path(json_path), Path(images_dir)
    data = load_json(path)
    images = _coco_images(path, data)
    layout, below = keypoint_layout(path, data, PERSON_CATEGORY_ID), SubfolderImages(images_dir)
    people, checked = [], {}
    for k, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise AnnotationError(f"{path}: annotations[{k}] is not an object")
        where = f"annotation {ann.get('id', f'#{k}')}"
        if ann.get("iscrowd", 0) or ann.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
            continue
        image = images.get(ann.get("image_id"))
        if image is None:
            raise AnnotationError(f"{path}: {where}: image_id {ann.get('image_id')!r} is not among the images")
        bbox = number_list(path, where, ann.get("bbox"), "bbox", 4)
        if bbox[2] <= 0 or bbox[3] <= 0:
            raise AnnotationError(f"{path}: {where}: 'bbox' has non-positive width or height")
        keypoints = _keypoints(path, where, ann, layout)
        dense, coarse = None, None
        if with_dense and "dp_I" in ann:
            dense = _dense_points(path, where, ann, bbox)
            if ann.get("dp_masks"):
                coarse = _coarse_mask(path, where, ann["dp_masks"])
        image_file = _person_image(path, where, images_dir, image["file_name"], dense is not None, checked,
                                   below)
        people.append(PersonAnnotation(
            image_file=str(image_file), image_size=(image["width"], image["height"]), bbox=bbox,
            keypoints=keypoints, dense=dense, coarse_mask=coarse,
            source_key=f"{path.name}#ann={ann.get('id', k)}",
        ))
    return people


def read_coco_densepose(json_path: str | Path, images_dir: str | Path) -> list[PersonAnnotation]:
    """People of a DensePose-COCO file (`densepose_coco_2014_*.json` layout); those without dp_* fields
    come with dense=None."""
    return read_coco_people(json_path, images_dir, with_dense=True)


def read_coco_keypoints(json_path: str | Path, images_dir: str | Path) -> list[PersonAnnotation]:
    """People of a COCO person-keypoints file, keypoints only (dense=None)."""
    return read_coco_people(json_path, images_dir, with_dense=False)
