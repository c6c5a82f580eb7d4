"""DensePose IUV images as people publish them: which files go together, and which channel holds what.

Files. An IUV image is a png named NAME_IUV.png or NAME_iuv.png (any case of the suffix and extension);
its instance image, when there is one, is NAME_INDS.png / NAME_inds.png beside it; the photo is
NAME.jpg / .jpeg / .png / .bmp (any case), looked for in the images folder when one is given, then beside
the IUV image.

Channels. `order` names what the file's R, G, B channels hold, as three letters: "VUI" is DensePose's own
output (R = V * 255, G = U * 255, B = part index I, so `cv2.imread` gives planes [I, U, V]); "IUV" is the
other layout in use (R = I, G = U, B = V). Any permutation of I, U, V may be forced. With order "auto"
the part channel is found from the data: the one channel whose values all lie in 0..24 and where the other
two are 0 wherever it is 0 (DensePose writes U = V = 0 on the background). The data cannot tell U from V,
so with the part channel found, U is taken to be green (true of both layouts above); a part channel in
green is ambiguous and needs `order`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deformlearn.core.body.skeletons import NUM_PARTS
from deformlearn.core.densepose.records import AnnotationError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
IUV_ORDERS = ("auto", "VUI", "IUV", "UVI", "VIU", "IVU", "UIV")
_IUV_NAME = re.compile(r"^(?P<stem>.+)_iuv\.png$", re.IGNORECASE)
_RGB = "RGB"


@dataclass(frozen=True)
class IuvFiles:
    """One DensePose output: the photo, the IUV image and, if there is one, the INDS instance image."""

    image: Path
    iuv: Path
    inds: Path | None


def file_with_stem(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """folder/stem + suffix for the first suffix (any case) that exists, else None."""
    if not folder.is_dir():
        return None
    by_lower = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    for suffix in suffixes:
        found = by_lower.get(f"{stem}{suffix}".lower())
        if found is not None:
            return found
    return None


def find_iuv_files(folder: str | Path, images_dir: str | Path | None = None) -> list[IuvFiles]:
    """Every IUV image of `folder` with its photo and optional INDS image, sorted by name.

    AnnotationError when the folder holds no IUV image, or an IUV image has no photo (naming where it
    looked).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AnnotationError(f"{folder}: not a folder")
    photo_dirs = ([Path(images_dir)] if images_dir is not None else []) + [folder]
    found = []
    for iuv in sorted(p for p in folder.iterdir() if p.is_file() and _IUV_NAME.match(p.name)):
        stem = _IUV_NAME.match(iuv.name)["stem"]
        inds = file_with_stem(folder, f"{stem}_inds", (".png",))
        image = next((f for f in (file_with_stem(d, stem, PHOTO_SUFFIXES) for d in photo_dirs) if f), None)
        if image is None:
            places = " or ".join(str(d) for d in dict.fromkeys(photo_dirs))
            raise AnnotationError(f"{iuv}: no photo {stem}.jpg/.jpeg/.png/.bmp in {places} (give its folder with --images)")
        found.append(IuvFiles(image=image, iuv=iuv, inds=inds))
    if not found:
        raise AnnotationError(f"{folder}: no *_IUV.png or *_iuv.png files")
    return found


def _part_channel_candidates(rgb: np.ndarray) -> list[int]:
    """Indices (into R, G, B) of the channels that can hold the part index: values in 0..NUM_PARTS, some
    foreground, and the other two channels 0 wherever this one is 0."""
    candidates = []
    for c in range(3):
        plane = rgb[..., c]
        background = plane == 0
        if plane.max() > NUM_PARTS or background.all():
            continue
        others = np.delete(rgb, c, axis=-1)
        if not others[background].any():
            candidates.append(c)
    return candidates


def detect_iuv_order(rgb: np.ndarray, where: str) -> str:
    """The RGB order ("VUI" or "IUV") of an IUV image, found from the data (module docstring).

    rgb: (H, W, 3) uint8 in the file's R, G, B order. AnnotationError naming `where` when no channel or
    more than one can be the part channel, or the part channel is green.
    """
    candidates = _part_channel_candidates(rgb)
    if len(candidates) != 1 or candidates[0] == 1:
        if not candidates:
            said = "no channel"
        elif len(candidates) == 1:
            said = "only the green channel (U and V cannot be told apart)"
        else:
            said = "channels " + " and ".join(_RGB[c] for c in candidates)
        raise AnnotationError(
            f"{where}: cannot tell the channel order: {said} can be the part index (values 0..{NUM_PARTS} with "
            f"U = V = 0 where it is 0); give it with --iuv-order (VUI for DensePose's own output, IUV for I in red)")
    return "IUV" if candidates[0] == 0 else "VUI"


def iuv_planes(bgr: np.ndarray, order: str, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Part index, U and V of an IUV image read by OpenCV.

    bgr: (H, W, 3) uint8 as `cv2.imread` gives it (B, G, R planes); order: "auto" or the file's RGB order
    (module docstring). Returns part (H, W) int64 0..24, u (H, W) and v (H, W) float32 in [0, 1].
    AnnotationError naming `where` for an unknown order, an ambiguous one, or a part channel above 24.
    """
    if order not in IUV_ORDERS:
        raise AnnotationError(f"{where}: unknown IUV channel order {order!r}; expected one of {IUV_ORDERS}")
    rgb = bgr[..., ::-1]
    if order == "auto":
        order = detect_iuv_order(rgb, where)
    planes = {letter: rgb[..., k] for k, letter in enumerate(order)}
    part = planes["I"].astype(np.int64)
    if part.max() > NUM_PARTS:
        channel = {"R": "red", "G": "green", "B": "blue"}[_RGB[order.index("I")]]
        raise AnnotationError(f"{where}: part channel ({channel}, order {order}) holds {part.max()} > {NUM_PARTS}: "
                              "not an IUV image in this order (see --iuv-order)")
    return part, planes["U"].astype(np.float32) / 255.0, planes["V"].astype(np.float32) / 255.0
