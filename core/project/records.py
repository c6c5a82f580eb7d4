"""Records the project store hands out, and the pickle-free array <-> BLOB encoding it stores them with."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.records import DensePoints

#: Review statuses a person can be set to; "cleared" returns the person to "unreviewed".
REVIEW_STATUSES = ("accepted", "rejected", "cleared")
#: Current review status of a person.
PERSON_STATUSES = ("unreviewed", "accepted", "rejected")
FIT_STATUSES = ("converged", "failed")
#: Review state of one fit (a review decision belongs to one fit).
FIT_REVIEW_STATUSES = ("unreviewed", "accepted", "rejected")
#: Fit filters of the people list -> SQL condition on persons: the status ("unfitted", "fitted", "failed") or
#: the quality verdict ("good", "poor", "degenerate": core.registration.quality) of the current fit.
FIT_FILTERS = {
    "unfitted": "fit_status IS NULL", "fitted": "fit_status = 'converged'", "failed": "fit_status = 'failed'",
    "good": "fit_quality = 'good'", "poor": "fit_quality = 'poor'", "degenerate": "fit_quality = 'degenerate'",
}
#: The FitRecord.metrics entry the people list shows and sorts as the fit's error (mean dense error, pixels).
ERROR_METRIC = "error"
#: The FitRecord.metrics entry holding the fit's verdict ("good", "poor", "degenerate"; absent in older fits).
QUALITY_METRIC = "quality"
#: The FitRecord.metrics entry counting the dense points a fit explained: 0 for a fit to keypoints alone, whose
#: ERROR_METRIC (0 px) measures nothing, so persons.fit_error holds NULL for it (absent in older fits).
POINTS_METRIC = "num_points"


def dense_error(metrics: dict) -> float | None:
    """The error the people list shows and sorts for a fit with these metrics: ERROR_METRIC, or None for a
    fit without dense points (fitted to keypoints alone) or without the metric."""
    if metrics.get(POINTS_METRIC) == 0:
        return None
    return metrics.get(ERROR_METRIC)


#: list_persons order_by name -> SQL expression (a whitelist: order_by never reaches SQL unchecked).
#: Sorting by error puts the degenerate fits after all others in either direction: their small errors (0 px
#: for points at one pixel) measure nothing, so they never top the list as the best fits. People without an
#: error (unfitted, or fitted to keypoints alone) come after those.
ORDER_COLUMNS = {
    "id": "p.id", "name": "p.name", "image": "i.file", "status": "p.status", "points": "p.num_points",
    "keypoints": "p.num_keypoints", "score": "p.score", "error": "p.fit_error", "fit_status": "p.fit_status",
    # best first: good, poor, degenerate, then people without a judged fit
    "quality": "CASE p.fit_quality WHEN 'good' THEN 0 WHEN 'poor' THEN 1 WHEN 'degenerate' THEN 2 ELSE 3 END",
}


def person_label(name: str | None, image_file: str, index: int | str, count: int) -> str:
    """How the app and `info --people` name a person: its name, else its image file and, on an image of
    several people, which of them it is ("demo_im.jpg · 3 of 12"; index 1-based in id order, or "?")."""
    if name:
        return name
    base = Path(image_file).name
    return base if count <= 1 else f"{base} · {index} of {count}"


class ProjectError(ValueError):
    """A project folder is missing, not a project, too new, or asked for something it does not hold."""


class ProjectBusy(ProjectError):
    """Another job holds the project (its lock file names the process), or the database stayed locked."""


@dataclass(frozen=True)
class FitRecord:
    """One registration result of one person.

    params: named arrays, e.g. pose (23, 3) axis-angle, scales (24,), rotation (3, 3), scale (),
    translation (2,). metrics: name -> float; metrics[ERROR_METRIC] (if present) is the error the people
    list sorts by. status: "converged" or "failed". settings: what produced the fit (JSON-able: schedule,
    start, ...). id, created_at and review_status ("unreviewed", "accepted", "rejected": the decision on
    this fit) are filled in by the store.
    """

    person_id: int
    round_index: int
    params: dict[str, np.ndarray]
    metrics: dict[str, float]
    status: str
    id: int | None = None
    created_at: float | None = None
    settings: dict = field(default_factory=dict)
    review_status: str = "unreviewed"


@dataclass(frozen=True)
class PersonRecord:
    """Everything stored about one person (see Project.person)."""

    id: int
    image_id: int
    image_file: str
    image_size: tuple[int, int]
    iuv_file: str | None
    inds_file: str | None
    name: str | None
    source_key: str
    bbox: np.ndarray
    keypoints: np.ndarray
    dense: DensePoints | None
    coarse_mask: np.ndarray | None
    score: float | None
    status: str
    latest_fit_id: int | None
    current_fit_id: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class PersonRow:
    """A light row of the people list (no arrays). fit_converged: the current fit's metrics["converged"]
    (1/0, None when it does not say or there is no fit); fit_flags: its quality flags, comma-separated."""

    id: int
    image_id: int
    image_file: str
    name: str | None
    num_points: int
    num_keypoints: int
    score: float | None
    status: str
    fit_status: str | None
    fit_error: float | None
    fit_quality: str | None = None
    fit_converged: float | None = None
    fit_flags: str | None = None


@dataclass(frozen=True)
class ReviewRecord:
    """One review decision; fit_id: the fit it was made on (None: made before the person had a fit)."""

    person_id: int
    status: str
    reason: str
    at: float
    fit_id: int | None = None


@dataclass(frozen=True)
class RoundRecord:
    """One deform-and-learn round: stage states, model files (relative to the project), metrics, times."""

    index: int
    stages: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None


def array_to_blob(array: np.ndarray) -> bytes:
    """Encode one array as .npy bytes (never pickled)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def blob_to_array(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


def arrays_to_blob(arrays: dict[str, np.ndarray]) -> bytes:
    """Encode named arrays as uncompressed .npz bytes (never pickled)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def blob_to_arrays(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def to_json(value: dict, indent: int | None = None) -> str:
    """Strict JSON (non-finite numbers become null, never a bare NaN other readers reject)."""
    return json.dumps(_finite_or_none(value), sort_keys=True, allow_nan=False, indent=indent,
                      default=lambda v: _finite_or_none(float(v)))  # 0-d arrays, tensors


def _finite_or_none(value):
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value
