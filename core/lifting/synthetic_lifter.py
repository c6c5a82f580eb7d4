"""A lifter trained on the built-in synthetic skeletons, for projects with too few keypoint people of their own.

A round's lifting stage trains the cGAN on the project's own 2D keypoints; with fewer than
`LiftingSettings.min_people` poses that have `min_visible` keypoints (an IUV project whose detector found a
handful of people, a few dozen COCO people) it uses this lifter instead (core/rounds/loop.py). It is trained
once on `SYNTHETIC_PEOPLE` random skeletons posed from the template's average skeleton
(`make_synthetic_skeletons`: no images, no data files) with the round's lifting settings, and cached under the
user's data folder, so later rounds and other projects with the same template and settings load it.

Cache folder: $DEFORMLEARN_LIFTER_CACHE, else $DEFORMLEARN_DATA/lifters, else the platform's user data folder
(platformdirs: ~/.local/share/deformlearn/lifters on Linux). A file's name holds a hash of the average skeleton, the training
settings and this module's recipe, so a changed template or setting trains a new one.

Measured (benchmarks/lifter_fallback.py, cpu-demo settings): on 300 synthetic people of another distribution
(AMASS-based poses) this lifter scores MPJPE 137.6 / PA-MPJPE 88.7 mm, depth order right for 0.80 of the joint
pairs; cGANs trained on N people of that very distribution (mean of 3 seeds) score 191 / 123 mm, 0.64 (N = 8),
170 / 111, 0.72 (16), 179 / 113, 0.73 (32), 174 / 111, 0.72 (64) and 130 / 89, 0.80 (128): a project's own
cGAN needs about 128 people to match it, hence `LiftingSettings.min_people`. On the 4 Human3.6M frames of
../shared/data neither helps much: this lifter 231 / 123 mm, depth order 0.49; the cGAN a round trains on a
16-person real project (12 COCO people + those 4 frames) 238 / 136 mm, 0.55.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import platformdirs

from deformlearn.core.cancel import CancelToken
from deformlearn.core.lifting.cgan import (
    DepthGenerator,
    LiftingProgress,
    LiftingSettings,
    load_lifter,
    save_lifter,
    train_lifter,
)
from deformlearn.core.lifting.data import make_synthetic_skeletons
from deformlearn.core.shape_checks import check_shape

#: Synthetic skeletons the fallback lifter trains on (800 with mirrored copies: ~45 s on one core, cpu-demo).
SYNTHETIC_PEOPLE = 400
SYNTHETIC_SEED = 1
#: Bumped when the recipe (data or training) changes, so older cached files are not reused.
_RECIPE_VERSION = 1
#: Settings that do not change the trained weights (where it runs, when it is used).
_NOT_IN_KEY = ("device", "threads", "min_people")


@dataclass(frozen=True)
class SyntheticLifter:
    """The fallback lifter: its generator, the cached file, and whether this call trained it (else loaded)."""

    generator: DepthGenerator
    path: Path
    trained: bool


def lifter_cache_dir() -> Path:
    """Folder of cached synthetic lifters (module docstring)."""
    if os.environ.get("DEFORMLEARN_LIFTER_CACHE"):
        return Path(os.environ["DEFORMLEARN_LIFTER_CACHE"]).expanduser()
    env = os.environ.get("DEFORMLEARN_DATA")
    base = Path(env).expanduser() if env else Path(platformdirs.user_data_dir("deformlearn", appauthor=False))
    return base / "lifters"


def synthetic_lifter_path(average_skeleton: np.ndarray, settings: LiftingSettings) -> Path:
    """The cache file of the lifter `synthetic_lifter` trains for this average skeleton (17, 3) and settings."""
    skeleton = np.ascontiguousarray(average_skeleton, dtype=np.float32)
    check_shape(skeleton, (17, 3), "average_skeleton")
    recipe = {k: v for k, v in asdict(settings).items() if k not in _NOT_IN_KEY}
    recipe.update(version=_RECIPE_VERSION, people=SYNTHETIC_PEOPLE, data_seed=SYNTHETIC_SEED)
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode())
    digest.update(np.round(skeleton, 5).tobytes())
    return lifter_cache_dir() / f"synthetic-{digest.hexdigest()[:16]}.pt"


def synthetic_lifter(average_skeleton: np.ndarray, settings: LiftingSettings, *,
                     progress: Callable[[LiftingProgress], None] | None = None,
                     cancel: CancelToken | None = None) -> SyntheticLifter:
    """Load the cached synthetic lifter for `average_skeleton` (17, 3) (template rest keypoints, any units) and
    `settings`, or train it on SYNTHETIC_PEOPLE synthetic skeletons and cache it. A cache folder that cannot be
    written is not an error: the lifter is trained and used, `path` then names where it would have gone.
    progress / cancel as in `train_lifter` (only while training)."""
    path = synthetic_lifter_path(average_skeleton, settings)
    if path.is_file():
        try:
            return SyntheticLifter(load_lifter(path), path, trained=False)
        except ValueError:
            pass  # a damaged cache file is trained again and replaced
    data = make_synthetic_skeletons(SYNTHETIC_PEOPLE, seed=SYNTHETIC_SEED, average_skeleton=average_skeleton)
    result = train_lifter(data.keypoints_2d, settings, average_skeleton=average_skeleton,
                          progress=progress, cancel=cancel)
    try:
        save_lifter(result, path)
    except OSError:
        pass  # read-only data folder: next time it trains again
    return SyntheticLifter(result.generator(), path, trained=True)


__all__ = ["SYNTHETIC_PEOPLE", "SyntheticLifter", "lifter_cache_dir", "synthetic_lifter", "synthetic_lifter_path"]
