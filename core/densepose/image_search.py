"""Images an annotation file names by their base name but that lie in subfolders of the images folder.

Human3.6M-style sets keep `S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg` while their
annotation file names only `S1_Directions_1.54138969_000001.jpg`; with `--images` the set's root folder,
such images are found by name anywhere below it. The folder tree is listed once, on the first name not
found directly, and only below the images folder (never outside it; symbolic links to folders not followed).
"""

from __future__ import annotations

import os
from pathlib import Path

from deformlearn.core.densepose.records import AnnotationError


class SubfolderImages:
    """Finds files by base name anywhere below `images_dir` (listed lazily, once per instance)."""

    def __init__(self, images_dir: Path) -> None:
        self.images_dir = Path(images_dir)
        self._by_name: dict[str, list[Path]] | None = None

    def _index(self) -> dict[str, list[Path]]:
        if self._by_name is None:
            self._by_name = {}
            for folder, dirs, files in os.walk(self.images_dir):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in files:
                    self._by_name.setdefault(name, []).append(Path(folder) / name)
        return self._by_name

    def find(self, where: str, file_name: str) -> Path | None:
        """The one file named like `file_name`'s base name below images_dir, None if there is none;
        AnnotationError (prefixed with `where`) when several subfolders hold one."""
        found = self._index().get(Path(file_name).name, [])
        if len(found) > 1:
            raise AnnotationError(f"{where}: image '{file_name}' is found in {len(found)} subfolders of "
                                  f"{self.images_dir} ({found[0]}, {found[1]}); give --images the folder that "
                                  "holds the right one")
        return found[0] if found else None
