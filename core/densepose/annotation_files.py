"""Small checked readers shared by the annotation readers: JSON files, number lists, image look-up and size.

Every failure raises AnnotationError naming the file and the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.records import AnnotationError


def load_json(path: str | Path) -> object:
    """Parse a JSON file; AnnotationError naming the file when it is missing, not valid JSON or nested too deeply
    for Python's parser."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError:
        raise AnnotationError(f"{path}: nested too deeply to read (deeper than Python's recursion limit); not an "
                              "annotation file") from None


#: JSON's names for the Python types json.load gives.
_JSON_KINDS = {str: "a string", type(None): "null", bool: "a boolean", list: "a list", dict: "an object",
               int: "a number", float: "a number"}


def _json_kind(value: object) -> str:
    """How a JSON value reads in a message: "a string ('two')", "a number (5)", "null", "a list"."""
    kind = _JSON_KINDS.get(type(value), f"a {type(value).__name__}")
    if isinstance(value, (str, bool, int, float)):
        text = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        return f"{kind} ({text})"
    return kind


def number_list(path: Path, where: str, value: object, key: str, length: int | None = None) -> np.ndarray:
    """`value` as a float64 vector, or AnnotationError naming the file, the record, the field and what is wrong
    (which element is not a number, or what came instead of a list)."""
    if not isinstance(value, list):
        raise AnnotationError(f"{path}: {where}: '{key}' must be a list of numbers; got {_json_kind(value)}")
    bad = next((i for i, v in enumerate(value) if not isinstance(v, (int, float)) or isinstance(v, bool)), None)
    if bad is not None:
        raise AnnotationError(f"{path}: {where}: '{key}' must be a list of numbers; element {bad} is "
                              f"{_json_kind(value[bad])}")
    if length is not None and len(value) != length:
        raise AnnotationError(f"{path}: {where}: '{key}' has {len(value)} values, expected {length}")
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise AnnotationError(f"{path}: {where}: '{key}' holds non-finite values")
    return arr


def image_path_in(images_dir: Path, file_name: str) -> Path:
    """Where `file_name` of an annotation lies under images_dir: images_dir/file_name, or images_dir/<basename>
    when file_name leads outside the folder (an absolute path, or through '..'): an annotation file never
    makes the import read a file outside the images folder it was given."""
    inside = images_dir / file_name
    if Path(file_name).is_absolute() or ".." in Path(file_name).parts:
        try:
            inside.resolve().relative_to(images_dir.resolve())
        except ValueError:
            return images_dir / Path(file_name).name
    return inside


def find_image(images_dir: Path, file_name: str) -> Path | None:
    """image_path_in(images_dir, file_name), or images_dir/<basename> when file_name carries folders; None if
    neither is a file."""
    for candidate in (image_path_in(images_dir, file_name), images_dir / Path(file_name).name):
        if candidate.is_file():
            return candidate
    return None


#: Bytes that end an intact file of the format.
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}
_TAIL_BYTES = 1024


def _jpeg_scan_offset(f) -> int:
    """Offset of the main image's first start-of-scan marker, walking the marker segments from the start
    (an EXIF thumbnail's own markers lie inside its APP1 segment and are skipped); the file's end if none."""
    pos = 2
    while True:
        f.seek(pos)
        head = f.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            return f.seek(0, 2)
        if head[1] == 0xDA:
            return pos
        pos += 2 + int.from_bytes(head[2:4], "big")


def _cut_short(path: Path, image_format: str | None, size: int) -> bool:
    """True when a JPEG has no end-of-image marker after its first scan, or a PNG no IEND chunk. Reads the
    headers and the file's last KiB; only a file with data after its end (a phone's motion photo) is read
    further."""
    marker = _END_MARKERS.get(image_format)
    if marker is None:
        return False
    with open(path, "rb") as f:
        start = _jpeg_scan_offset(f) if image_format == "JPEG" else 8  # PNG: after its signature
        f.seek(max(start, size - _TAIL_BYTES))
        if marker in f.read():
            return False
        f.seek(start)
        return marker not in f.read()


def image_size(path: Path) -> tuple[int, int]:
    """(W, H) of an image file, checked without decoding its pixels: AnnotationError naming the file when it
    is missing, empty, not an image PIL knows from its header, or cut short (`_cut_short`)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: image not found")
    size = path.stat().st_size
    if size == 0:
        raise AnnotationError(f"{path}: empty file (0 bytes), not an image")
    try:
        with Image.open(path) as im:
            if _cut_short(path, im.format, size):
                raise AnnotationError(f"{path}: truncated {im.format} image ({size} bytes, its end is missing)")
            return im.size
    except AnnotationError:
        raise
    except Exception as exc:  # PIL.UnidentifiedImageError, OSError
        raise AnnotationError(f"{path}: not a readable image ({exc})") from exc
