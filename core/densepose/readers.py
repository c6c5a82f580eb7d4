"""One entry point to every DensePose / COCO reader: `read_people(kind, source, ...)`.

Kinds (the command line's import options):
- "coco-densepose": DensePose-COCO JSON + images folder (coco_densepose.read_coco_densepose)
- "coco-keypoints": COCO person-keypoints JSON + images folder (coco_densepose.read_coco_keypoints)
- "iuv": a folder of DensePose inference output NAME_IUV.png (+ NAME_INDS.png), photos beside them or in the
  images folder, in the layouts of iuv_layout (iuv_images.read_iuv_folder)
- "openpose": a folder of OpenPose NAME_keypoints.json files, BODY_25 or COCO-18 (openpose.read_openpose_folder)
- "densepose-results": DensePose challenge results JSON + images folder (iuv_images.read_densepose_results)
- "detectron2-dump": detectron2 `apply_net dump` pickle, trusted only (densepose_pickles.read_detectron2_dump)
- "densepose-pickle": DensePose's single-annotation demo pickle (densepose_pickles.read_single_annotation_pickle)
All return a list of PersonAnnotation and raise AnnotationError naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path

from deformlearn.core.densepose.coco import DP_FRAME, read_coco_densepose, read_coco_keypoints
from deformlearn.core.densepose.iuv_images import (
    DEFAULT_POINTS_PER_PART,
    read_densepose_results,
    read_iuv_folder,
    read_iuv_inference,
)
from deformlearn.core.densepose.iuv_layout import find_iuv_files
from deformlearn.core.densepose.openpose import read_openpose_folder
from deformlearn.core.densepose.pickles import read_detectron2_dump, read_single_annotation_pickle
from deformlearn.core.densepose.records import AnnotationError, DensePoints, PersonAnnotation

KINDS = ("coco-densepose", "coco-keypoints", "iuv", "openpose", "densepose-results", "detectron2-dump",
         "densepose-pickle")
_NEEDS_IMAGES = ("coco-densepose", "densepose-results")


def read_people(kind: str, source: str | Path, *, images_dir: str | Path | None = None, trust_pickle: bool = False,
                points_per_part: int = DEFAULT_POINTS_PER_PART, seed: int = 0, min_score: float = 0.5,
                skip_missing_images: bool = False, iuv_order: str = "auto",
                min_person_pixels: int = 50) -> list[PersonAnnotation]:
    """Read every person of `source` in the format `kind` (see the module docstring).

    iuv_order and min_person_pixels apply to "iuv" input (iuv_layout, iuv_images.read_iuv_inference)."""
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}; expected one of {KINDS}")
    if kind in _NEEDS_IMAGES and images_dir is None:
        raise AnnotationError(f"{source}: {kind} input needs an images folder (--images DIR)")
    sampling = {"points_per_part": points_per_part, "seed": seed}
    if kind == "coco-densepose":
        return read_coco_densepose(source, images_dir)
    if kind == "coco-keypoints":  # images are optional for keypoint-only people: look beside the file by default
        return read_coco_keypoints(source, Path(source).parent if images_dir is None else images_dir)
    if kind == "iuv":
        return read_iuv_folder(source, images_dir, iuv_order=iuv_order, min_person_pixels=min_person_pixels,
                               **sampling)
    if kind == "openpose":
        return read_openpose_folder(source, images_dir)
    if kind == "densepose-results":
        return read_densepose_results(source, images_dir, min_score=min_score,
                                      skip_missing_images=skip_missing_images, **sampling)
    if kind == "detectron2-dump":
        return read_detectron2_dump(source, trust_pickle=trust_pickle, images_dir=images_dir, min_score=min_score,
                                    **sampling)
    return read_single_annotation_pickle(source, trust_pickle=trust_pickle)


__all__ = [
    "KINDS", "DP_FRAME", "AnnotationError", "DensePoints", "PersonAnnotation", "read_people", "read_coco_densepose",
    "read_coco_keypoints", "read_iuv_inference", "read_iuv_folder", "find_iuv_files", "read_openpose_folder",
    "read_densepose_results", "read_detectron2_dump", "read_single_annotation_pickle",
]
