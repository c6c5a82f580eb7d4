"""Pose sources for synthetic people: real poses (AMASS motion capture, SMPL parameter files) or samples within
joint limits.

Every pose is (23, 3) axis-angle rotations of SMPL joints 1..23 relative to their parents, in SMPL's
convention (the body frame of `core.body.model`: x body-left, y up, z forward; rest pose = T-pose). The
global orientation is not part of it: the synthetic camera chooses it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deformlearn.core.body.skeletons import NUM_JOINTS

#: SMPL-H `poses` rows: 3 global orientation values, then 21 body joints (SMPL joints 1..21), then the hands.
AMASS_BODY_VALUES = 66

#: Left-side and centre joints: (joint, (min_x, max_x), (min_y, max_y), (min_z, max_z), mean (3,)) in radians,
#: parent frame with SMPL's axes. Right-side joints mirror their left partner (see `_mirror`). The limits are
#: a little inside the human range of motion; the means give a relaxed stance (arms down, knees and elbows
#: slightly bent).
_Range = tuple[float, float]
_LIMITS: tuple[tuple[int, _Range, _Range, _Range, tuple[float, float, float]], ...] = (
    (1, (-1.6, 0.4), (-0.5, 0.5), (-0.3, 0.8), (-0.15, 0.0, 0.08)),     # left hip: -x = flexion (leg forward)
    (3, (-0.2, 0.5), (-0.3, 0.3), (-0.2, 0.2), (0.05, 0.0, 0.0)),      # spine1: +x = bending forward
    (4, (0.0, 2.2), (-0.1, 0.1), (-0.1, 0.1), (0.3, 0.0, 0.0)),        # left knee: +x = flexion
    (6, (-0.2, 0.4), (-0.3, 0.3), (-0.2, 0.2), (0.05, 0.0, 0.0)),      # spine2
    (7, (-0.5, 0.6), (-0.2, 0.2), (-0.2, 0.2), (0.0, 0.0, 0.0)),       # left ankle
    (9, (-0.2, 0.4), (-0.3, 0.3), (-0.2, 0.2), (0.0, 0.0, 0.0)),       # spine3
    (10, (-0.2, 0.2), (-0.1, 0.1), (-0.1, 0.1), (0.0, 0.0, 0.0)),      # left foot
    (12, (-0.4, 0.6), (-0.6, 0.6), (-0.3, 0.3), (0.0, 0.0, 0.0)),      # neck
    (13, (-0.2, 0.2), (-0.3, 0.2), (-0.2, 0.3), (0.0, 0.0, 0.0)),      # left collar
    (15, (-0.3, 0.4), (-0.5, 0.5), (-0.3, 0.3), (0.0, 0.0, 0.0)),      # head
    (16, (-0.8, 0.8), (-1.5, 0.5), (-1.4, 1.2), (0.0, -0.2, -1.0)),    # left shoulder: -z = arm down, -y = forward
    (18, (-0.4, 0.4), (-2.3, 0.0), (-0.1, 0.1), (0.0, -0.5, 0.0)),     # left elbow: -y = flexion
    (20, (-0.5, 0.5), (-0.4, 0.4), (-0.6, 0.6), (0.0, 0.0, 0.0)),      # left wrist
)
#: (left, right) SMPL joint pairs.
_MIRROR_PAIRS = ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23))


class MotionFileError(ValueError):
    """A motion file is missing or malformed; the message names the file and the problem."""


#: Values of an SMPL `pose` row: 3 global orientation values, then SMPL joints 1..23.
SMPL_POSE_VALUES = 72


def load_motion_poses(path: str | Path) -> np.ndarray:
    """(T, 23, 3) float32 body poses of a motion file: an AMASS SMPL-H .npz (`poses` (T, >= 66) axis-angle)
    or an SMPL parameter .npz as SPIN's and mmpose's datasets ship them (`pose` (T, 72), e.g. Human3.6M's).

    AMASS: values 3..65 are SMPL joints 1..21; SMPL's hand joints 22 and 23 (which SMPL-H replaces by finger
    joints) are set to zero. SMPL: values 3..71 are joints 1..23. The global orientation (the first three
    values, in the file's own world frame) is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: motion file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            key = next((k for k in ("poses", "pose") if k in data.files), None)
            if key is None:
                raise MotionFileError(f"{path}: no 'poses' array (AMASS SMPL-H) or 'pose' array (SMPL, (T, 72))")
            poses = np.asarray(data[key], dtype=np.float64)
    except (OSError, ValueError) as exc:
        if isinstance(exc, MotionFileError):
            raise
        raise MotionFileError(f"{path}: not a readable .npz ({exc})") from exc
    width = AMASS_BODY_VALUES if key == "poses" else SMPL_POSE_VALUES
    if poses.ndim != 2 or poses.shape[0] == 0 or (poses.shape[1] < width if key == "poses"
                                                  else poses.shape[1] != width):
        expected = f"(T, >= {width})" if key == "poses" else f"(T, {width})"
        raise MotionFileError(f"{path}: '{key}' has shape {poses.shape}, expected {expected}")
    if not np.all(np.isfinite(poses[:, :width])):
        raise MotionFileError(f"{path}: '{key}' holds non-finite values")
    body = poses[:, 3:width].reshape(len(poses), -1, 3)
    hands = np.zeros((len(body), NUM_JOINTS - 1 - body.shape[1], 3))
    return np.concatenate([body, hands], axis=1).astype(np.float32)


def _mirror(values: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) reflected through the body's sagittal plane (x -> -x): (x, y, z) -> (x, -y, -z)."""
    return values * np.array([1.0, -1.0, -1.0])


def _limit_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(23, 3) lower limits, upper limits and means for joints 1..23 (hands fixed at zero)."""
    lo, hi, mean = np.zeros((NUM_JOINTS, 3)), np.zeros((NUM_JOINTS, 3)), np.zeros((NUM_JOINTS, 3))
    for joint, x, y, z, m in _LIMITS:
        lo[joint], hi[joint], mean[joint] = (x[0], y[0], z[0]), (x[1], y[1], z[1]), m
    for left, right in _MIRROR_PAIRS:
        a, b = _mirror(lo[left]), _mirror(hi[left])
        lo[right], hi[right], mean[right] = np.minimum(a, b), np.maximum(a, b), _mirror(mean[left])
    return lo[1:], hi[1:], mean[1:]


def sample_limited_poses(rng: np.random.Generator, count: int, spread: float | np.ndarray = 0.22,
                         centre: str = "relaxed") -> np.ndarray:
    """(count, 23, 3) float32 poses within joint limits: the one random-pose sampler (synthetic people,
    registration tests, lifting data).

    Per joint and axis a normal around the centre with standard deviation `spread` times the joint's range,
    clipped to the limits. spread: one value, or (count,) one per person (calm and lively people in one
    set). centre: "relaxed" (arms down, knees and elbows slightly bent) or "tpose" (all zero: the
    registration's start; knees and elbows then bend only the allowed way, the clip folds the rest to 0).
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if centre not in ("relaxed", "tpose"):
        raise ValueError(f"centre must be 'relaxed' or 'tpose', got {centre!r}")
    spread = np.asarray(spread, dtype=np.float64)
    if spread.ndim not in (0, 1) or spread.ndim == 1 and spread.shape != (count,):
        raise ValueError(f"spread must be one value or ({count},) values, got shape {spread.shape}")
    lo, hi, mean = _limit_table()
    if centre == "tpose":
        mean = np.zeros_like(mean)
    width = spread.reshape(-1, 1, 1) * (hi - lo)
    pose = mean + rng.standard_normal((count, NUM_JOINTS - 1, 3)) * width
    return np.clip(pose, lo, hi).astype(np.float32)


def pose_limits() -> tuple[np.ndarray, np.ndarray]:
    """(23, 3) lower and upper limits of `sample_limited_poses` (radians, per axis-angle component)."""
    lo, hi, _ = _limit_table()
    return lo, hi


__all__ = ["AMASS_BODY_VALUES", "SMPL_POSE_VALUES", "MotionFileError", "load_motion_poses", "pose_limits",
           "sample_limited_poses"]
