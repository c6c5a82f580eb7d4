"""The identity of an imported person: a digest of its image's bytes and of its annotation.

Two people are the same person exactly when their image files hold the same bytes and their annotations
(box, keypoints, dense points, all as float32 / int64) are equal, whatever the files are called, so a second
video whose frames share the first one's names adds its people and re-importing a file adds nothing.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.records import DensePoints

_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """blake2b of the file's bytes; of its absolute path (prefixed "path:") when there is no such file."""
    try:
        stat = path.stat()
    except OSError:
        return "path:" + hashlib.blake2b(str(path).encode(), digest_size=16).hexdigest()
    return _bytes_digest(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)  # an import names one image for each of its people: read each once
def _bytes_digest(path: str, size: int, mtime_ns: int) -> str:
    """blake2b of the bytes of `path`; size and mtime_ns are in the key so that a changed file is read again."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def annotation_digest(bbox: np.ndarray, keypoints: np.ndarray, dense: DensePoints | None) -> str:
    """blake2b of bbox (4,) float32, keypoints (17, 3) float32 and dense xy (N, 2) float32, part (N,) int64,
    uv (N, 2) float32 (no dense points and zero of them differ)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(bbox, np.float32).tobytes())
    h.update(np.ascontiguousarray(keypoints, np.float32).tobytes())
    if dense is not None:
        h.update(b"dense")
        h.update(np.ascontiguousarray(dense.xy, np.float32).tobytes())
        h.update(np.ascontiguousarray(dense.part, np.int64).tobytes())
        h.update(np.ascontiguousarray(dense.uv, np.float32).tobytes())
    return h.hexdigest()


def person_content_key(image_digest: str, annotation: str) -> str:
    """The persons.content_key of a person on an image with this digest and an annotation with this digest."""
    return f"{image_digest}:{annotation}"
