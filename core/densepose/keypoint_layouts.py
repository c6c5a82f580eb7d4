"""Joint layouts of COCO-format keypoint files, read from the person category's `keypoints` names.

A COCO keypoint file names its joints in `categories[k].keypoints`. Files in the wild use other layouts
under the same format (mmpose's Human3.6M file names the 17 Human3.6M joints there), so the names decide:

- COCO-17 names, in any order: mapped to COCO-17 by name;
- the Human3.6M-17 names: mapped to COCO-17 where a joint corresponds (shoulders, elbows, wrists, hips,
  knees, ankles = Human3.6M's feet); nose, eyes and ears have no Human3.6M counterpart and become missing
  (visibility 0). Listed in Human3.6M's own order (pelvis, right leg, left leg, spine, thorax, neck, head,
  left arm, right arm) they are read in that order, whatever the leg names say: mmpose's file
  (../shared/data/h36m/h36m_coco.json) labels its joints 1..3 "left_*" but, for all four of its people,
  joint 1 lies nearer the right shoulder than the left in 3D (0.42 vs 0.48 m, 0.38 vs 0.47, 0.44 vs 0.49,
  0.49 vs 0.60): Human3.6M's order, right leg first. In any other order they are mapped by name;
- any other names: refused (AnnotationError naming the file and the names not recognised);
- no names: COCO-17 in COCO's order.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deformlearn.core.body.skeletons import COCO_KEYPOINT_NAMES, NUM_KEYPOINTS
from deformlearn.core.densepose.records import AnnotationError

COCO_17 = "COCO-17"
H36M_17 = "Human3.6M-17"

#: Human3.6M's 17 joints in its own order (the order of its data and of mmpose's Human3.6M datasets).
H36M_17_NAMES: tuple[str, ...] = (
    "root", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot", "spine", "thorax",
    "neck_base", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
)
#: Other spellings of Human3.6M joint names, normalised (`_normalise`), -> the name in H36M_17_NAMES.
_H36M_ALIASES = {"pelvis": "root", "hip": "root", "neck": "neck_base", "nose": "neck_base", "head_top": "head",
                 "left_ankle": "left_foot", "right_ankle": "right_foot"}
#: COCO-17 joint -> the Human3.6M joint at the same place (COCO's ankles are Human3.6M's "feet").
_COCO_FROM_H36M = {"left_shoulder": "left_shoulder", "right_shoulder": "right_shoulder", "left_elbow": "left_elbow",
                   "right_elbow": "right_elbow", "left_wrist": "left_wrist", "right_wrist": "right_wrist",
                   "left_hip": "left_hip", "right_hip": "right_hip", "left_knee": "left_knee",
                   "right_knee": "right_knee", "left_ankle": "left_foot", "right_ankle": "right_foot"}


class KeypointLayoutNote(UserWarning):
    """Issued (warnings.warn) when a file's keypoints are read in a layout other than COCO-17, with a
    one-line note saying which; `deformlearn import` prints it."""


@dataclass(frozen=True)
class KeypointLayout:
    """How a file's keypoints become COCO-17.

    name: COCO_17 or H36M_17.
    count: keypoints per annotation in the file (its 'keypoints' list has 3 * count values).
    source: (17,) int64, for each COCO-17 joint the index of the file's joint, -1 where there is none.
    """

    name: str
    count: int
    source: np.ndarray

    def to_coco(self, keypoints: np.ndarray) -> np.ndarray:
        """(count, 3) x, y, visibility in the file's layout -> (17, 3) COCO-17; missing joints all zero."""
        out = np.zeros((NUM_KEYPOINTS, 3), dtype=keypoints.dtype)
        have = self.source >= 0
        out[have] = keypoints[self.source[have]]
        return out

    def missing(self) -> list[str]:
        """COCO-17 joint names this layout has no counterpart for."""
        return [COCO_KEYPOINT_NAMES[i] for i in np.flatnonzero(self.source < 0)]


COCO_17_LAYOUT = KeypointLayout(COCO_17, NUM_KEYPOINTS, np.arange(NUM_KEYPOINTS))


def _normalise(name: str) -> str:
    """'Root (Pelvis)' -> 'root', 'left hip' -> 'left_hip': lower case, no bracketed remark, '_' for blanks."""
    return re.sub(r"[\s\-]+", "_", re.sub(r"\(.*?\)", "", name).strip().lower())


def _by_name(names: list[str], wanted: tuple[str, ...]) -> np.ndarray:
    """(len(wanted),) index into `names` of each wanted name, -1 where absent."""
    where = {n: i for i, n in enumerate(names)}
    return np.array([where.get(w, -1) for w in wanted], dtype=np.int64)


def _h36m_layout(names: list[str]) -> KeypointLayout:
    """Human3.6M-17 names (already normalised and de-aliased) -> its layout (module docstring)."""
    legs_swapped = H36M_17_NAMES[:1] + H36M_17_NAMES[4:7] + H36M_17_NAMES[1:4] + H36M_17_NAMES[7:]
    order = list(H36M_17_NAMES) if names in (list(H36M_17_NAMES), list(legs_swapped)) else names
    h36m_index = _by_name(order, H36M_17_NAMES)
    source = np.array([h36m_index[H36M_17_NAMES.index(_COCO_FROM_H36M[c])] if c in _COCO_FROM_H36M else -1
                       for c in COCO_KEYPOINT_NAMES], dtype=np.int64)
    return KeypointLayout(H36M_17, len(names), source)


def _category_names(path: Path, data: dict, category_id: int) -> list | None:
    """The person category's 'keypoints' list (the category with `category_id`, else the first), or None."""
    categories = data.get("categories")
    if not isinstance(categories, list) or not categories:
        return None
    ours = [c for c in categories if isinstance(c, dict) and c.get("id") == category_id]
    category = ours[0] if ours else categories[0]
    names = category.get("keypoints") if isinstance(category, dict) else None
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise AnnotationError(f"{path}: the person category's 'keypoints' must be a list of joint names")
    return names


def keypoint_layout(path: Path, data: dict, category_id: int = 1) -> KeypointLayout:
    """The layout of a parsed COCO file's keypoints (module docstring); AnnotationError naming the file and
    the names not recognised for any other layout. A layout other than COCO-17 issues a KeypointLayoutNote."""
    raw = _category_names(path, data, category_id)
    if raw is None:
        return COCO_17_LAYOUT
    names = [_normalise(n) for n in raw]
    if len(set(names)) == len(names) == NUM_KEYPOINTS and set(names) == set(COCO_KEYPOINT_NAMES):
        return KeypointLayout(COCO_17, NUM_KEYPOINTS, _by_name(names, COCO_KEYPOINT_NAMES))
    h36m = [_H36M_ALIASES.get(n, n) for n in names]
    if len(set(h36m)) == len(h36m) == len(H36M_17_NAMES) and set(h36m) == set(H36M_17_NAMES):
        layout = _h36m_layout(h36m)
        warnings.warn(KeypointLayoutNote(
            f"{path.name}: keypoints read as {H36M_17} (its category's joint names), mapped to COCO-17: "
            f"{NUM_KEYPOINTS - len(layout.missing())} joints; {', '.join(layout.missing())} missing"), stacklevel=2)
        return layout
    known = set(COCO_KEYPOINT_NAMES) | set(H36M_17_NAMES) | set(_H36M_ALIASES)
    unknown = [r for r, n in zip(raw, names) if n not in known]
    raise AnnotationError(
        f"{path}: its person category names {len(raw)} keypoints in a layout that is neither {COCO_17} nor "
        f"{H36M_17}" + (f"; names not recognised: {', '.join(map(repr, unknown[:10]))}" if unknown else
                        f" (names: {', '.join(map(repr, raw[:20]))})"))
