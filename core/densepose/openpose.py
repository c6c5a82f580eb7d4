"""OpenPose keypoint files (`--write_json` output: one NAME_keypoints.json per image) -> keypoint-only people.

Each file holds {"people": [{"pose_keypoints_2d": [x0, y0, c0, x1, ...]}, ...]} in image pixels, in the
BODY_25 layout (25 keypoints) or the COCO-18 layout of OpenPose's COCO model (18 keypoints); both are mapped
to COCO-17 keeping OpenPose's confidence c in [0, 1] as the keypoint's third column (0 = not detected).
OpenPose writes no image size, so the photo NAME.jpg/.jpeg/.png/.bmp must be found (in the images folder, or
beside the JSON file).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.annotation_files import image_size, load_json, number_list
from deformlearn.core.densepose.iuv_layout import PHOTO_SUFFIXES, file_with_stem
from deformlearn.core.densepose.records import AnnotationError, PersonAnnotation, bbox_of_points

#: OpenPose keypoint index of each COCO-17 keypoint (nose, eyes, ears, shoulders, elbows, wrists, hips,
#: knees, ankles; left before right), for each OpenPose layout by its keypoint count.
OPENPOSE_TO_COCO: dict[int, tuple[int, ...]] = {
    25: (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11),  # BODY_25
    18: (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10),  # COCO-18
}
_KEYPOINTS_NAME = re.compile(r"^(?P<stem>.+)_keypoints\.json$", re.IGNORECASE)


def openpose_to_coco(flat: np.ndarray, where: str) -> np.ndarray:
    """(3 * 25,) or (3 * 18,) OpenPose x, y, confidence values -> (17, 3) COCO-17 x, y pixels + confidence.

    Keypoints OpenPose did not detect (confidence 0) come out as (0, 0, 0). AnnotationError naming `where`
    for any other length or a confidence outside [0, 1].
    """
    flat = np.asarray(flat, dtype=np.float64).reshape(-1)
    count = flat.size // 3
    if flat.size % 3 or count not in OPENPOSE_TO_COCO:
        raise AnnotationError(f"{where}: 'pose_keypoints_2d' has {flat.size} values; expected 75 (BODY_25) or 54 (COCO-18)")
    kp = flat.reshape(count, 3)[list(OPENPOSE_TO_COCO[count])]
    if kp[:, 2].min() < 0 or kp[:, 2].max() > 1:
        raise AnnotationError(f"{where}: keypoint confidences outside [0, 1]")
    kp[kp[:, 2] == 0] = 0
    return kp.astype(np.float32)


def read_openpose_folder(folder: str | Path, images_dir: str | Path | None = None) -> list[PersonAnnotation]:
    """Every person with at least one detected keypoint in the NAME_keypoints.json files of `folder`.

    The box is the detected keypoints' extent. AnnotationError names the file for a malformed file or a
    missing photo.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnnotationError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and _KEYPOINTS_NAME.match(p.name))
    if not files:
        raise AnnotationError(f"{folder}: no *_keypoints.json files (OpenPose --write_json output)")
    photo_dirs = ([Path(images_dir)] if images_dir is not None else []) + [folder]
    people = []
    for path in files:
        stem = _KEYPOINTS_NAME.match(path.name)["stem"]
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("people"), list):
            raise AnnotationError(f"{path}: not an OpenPose keypoint file (needs a 'people' list)")
        image = next((f for f in (file_with_stem(d, stem, PHOTO_SUFFIXES) for d in photo_dirs) if f), None)
        if image is None:
            places = " or ".join(str(d) for d in dict.fromkeys(photo_dirs))
            raise AnnotationError(f"{path}: no photo {stem}.jpg/.jpeg/.png/.bmp in {places}; OpenPose files carry no "
                                  "image size, so the photo is needed (give its folder with --images)")
        size = image_size(image)
        for k, person in enumerate(data["people"]):
            where = f"person {k}"
            if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
                raise AnnotationError(f"{path}: {where}: no 'pose_keypoints_2d'")
            kp = openpose_to_coco(number_list(path, where, person["pose_keypoints_2d"], "pose_keypoints_2d"),
                                  f"{path}: {where}")
            seen = kp[:, 2] > 0
            if not seen.any():
                continue
            people.append(PersonAnnotation(
                image_file=str(image), image_size=size, bbox=bbox_of_points(kp[seen, :2]), keypoints=kp,
                dense=None, source_key=f"{path.name}#person={k}",
            ))
    return people

