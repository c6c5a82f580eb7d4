"""Person crops and labels for the people list and the gallery: each person's box cut from its image, and a
name that says which image and which of its people it is ("demo_im.jpg · 3 of 12").

Everything is read lazily (when a row or a tile is painted) through the project's public queries and kept in
small LRU caches, so a 100,000-person project lists as fast as a small one.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtGui import QImage, QPixmap

from deformlearn.core.project import person_label

#: At most this many people of one image are counted for the "k of n" label (a crowd is "k of 512+").
MAX_PEOPLE_PER_IMAGE = 512
#: Margin around a person's box in a crop, as a fraction of the box's longer side.
CROP_MARGIN = 0.08


class LRU(OrderedDict):
    """A dict of at most `size` entries; `put` drops the oldest insertions past it and returns the value."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key, value):
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


def crop_box(bbox: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """The square crop (x0, y0, x1, y1) in pixels about a person's bbox (4,) x, y, w, h, clipped to the image."""
    x, y, w, h = (float(v) for v in bbox)
    side = max(w, h) * (1 + 2 * CROP_MARGIN)
    cx, cy = x + w / 2, y + h / 2
    x0, y0 = int(np.floor(cx - side / 2)), int(np.floor(cy - side / 2))
    x1, y1 = int(np.ceil(cx + side / 2)), int(np.ceil(cy + side / 2))
    return max(0, x0), max(0, y0), min(width, max(x1, x0 + 1)), min(height, max(y1, y0 + 1))


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """(H, W, 3) uint8 RGB -> QPixmap (copied, so the array may go)."""
    rgb = np.ascontiguousarray(rgb)
    image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())


class PersonThumbnails:
    """Crops (QPixmap, at most `px` on the longer side) and image + index labels of one project's people."""

    def __init__(self, project) -> None:
        self.project = project
        self._images: LRU = LRU(6)  # image file -> (H, W, 3) RGB or None
        self._people: LRU = LRU(4096)  # person id -> (image_id, image file, name, bbox (4,))
        self._people_of_image: LRU = LRU(256)  # image id -> ids of its people in id order (or None: a crowd)
        self._crops: LRU = LRU(1024)  # (person id, px) -> QPixmap or None

    def _person(self, pid: int) -> tuple[int, str, str | None, np.ndarray]:
        if pid not in self._people:
            r = self.project.person(pid)
            self._people.put(pid, (r.image_id, r.image_file, r.name, np.asarray(r.bbox, np.float64)))
        return self._people[pid]

    def bbox(self, pid: int) -> np.ndarray:
        """(4,) x, y, w, h pixels of person `pid`'s box."""
        return self._person(pid)[3]

    def same_image(self, pid: int, limit: int = 64) -> list[tuple[int, str, np.ndarray]]:
        """(person id, label, bbox (4,) pixels) of every person on `pid`'s image (pid included), at most
        `limit`, in id order; empty for a crowd of more than MAX_PEOPLE_PER_IMAGE."""
        image_id, image_file, _, _ = self._person(pid)
        ids = self.people_of_image(image_id, image_file) or []
        return [(other, self.label_of(other), self.bbox(other)) for other in ids[:limit]]

    def label_of(self, pid: int) -> str:
        """The label of person `pid` (see `label`), read from the store."""
        image_id, image_file, name, _ = self._person(pid)
        return self._label(pid, image_id, image_file, name)

    def people_of_image(self, image_id: int, image_file: str) -> list[int] | None:
        """Ids of the people on one image in id order; None when it holds more than MAX_PEOPLE_PER_IMAGE."""
        if image_id not in self._people_of_image:
            rows = self.project.list_persons(limit=4 * MAX_PEOPLE_PER_IMAGE, search=Path(image_file).name)
            ids = [r.id for r in rows if r.image_id == image_id]
            self._people_of_image.put(image_id, ids if len(ids) <= MAX_PEOPLE_PER_IMAGE else None)
        return self._people_of_image[image_id]

    def label(self, row) -> str:
        """A PersonRow's name, or its image file and which of the image's people it is ("a.jpg · 3 of 12")."""
        return self._label(row.id, row.image_id, row.image_file, row.name)

    def _label(self, pid: int, image_id: int, image_file: str, name: str | None) -> str:
        if name:
            return name
        ids = self.people_of_image(image_id, image_file)
        if ids is None:
            return f"{Path(image_file).name} · person id {pid}"
        return person_label(None, image_file, ids.index(pid) + 1 if pid in ids else "?", len(ids))

    def image(self, image_file: str) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB of an image file (None when unreadable), cached."""
        if image_file not in self._images:
            bgr = cv2.imread(image_file, cv2.IMREAD_COLOR) if Path(image_file).is_file() else None
            self._images.put(image_file, None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        return self._images[image_file]

    def crop(self, pid: int, image_file: str, px: int) -> QPixmap | None:
        """Person `pid`'s box cut from its image, scaled so the longer side is `px`; None without an image."""
        key = (pid, px)
        if key not in self._crops:
            rgb = self.image(image_file)
            pix = None
            if rgb is not None:
                x0, y0, x1, y1 = crop_box(self.bbox(pid), rgb.shape[1], rgb.shape[0])
                part = rgb[y0:y1, x0:x1]
                scale = px / max(part.shape[:2])
                size = (max(1, round(part.shape[1] * scale)), max(1, round(part.shape[0] * scale)))
                pix = to_pixmap(cv2.resize(part, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR))
            self._crops.put(key, pix)
        return self._crops[key]

    def forget(self, pid: int) -> None:
        """Drop what is cached of one person (after an edit of its annotation)."""
        self._people.pop(pid, None)
        for key in [k for k in self._crops if k[0] == pid]:
            self._crops.pop(key)
