"""Small checked readers shared by the annotation readers: JSON files, number lists, image look-up and size.

Every failure raises AnnotationError naming the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.records import AnnotationError


def load_json(path: str | Path) -> object:
    """Parse a JSON file; AnnotationError naming the file when it is missing or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: not valid JSON ({exc})") from exc


def number_list(path: Path, where: str, value: object, key: str, length: int | None = None) -> np.ndarray:
    """`value` as a float64 vector, or AnnotationError naming the file, the record and the field."""
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise AnnotationError(f"{path}: {where}: '{key}' must be a list of numbers, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise AnnotationError(f"{path}: {where}: '{key}' has {len(value)} values, expected {length}")
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise AnnotationError(f"{path}: {where}: '{key}' holds non-finite values")
    return arr


def find_image(images_dir: Path, file_name: str) -> Path | None:
    """images_dir/file_name, or images_dir/<basename> when file_name carries folders; None if neither."""
    for candidate in (images_dir / file_name, images_dir / Path(file_name).name):
        if candidate.is_file():
            return candidate
    return None


def image_size(path: Path) -> tuple[int, int]:
    """(W, H) of an image file, read from its header only."""
    from PIL import Image

    if not Path(path).is_file():
        raise AnnotationError(f"{path}: image not found")
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError
        raise AnnotationError(f"{path}: not a readable image ({exc})") from exc
