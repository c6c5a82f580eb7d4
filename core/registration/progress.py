"""Progress events of the fit pipeline. Numpy only, so the app's window can name them without loading torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PipelineProgress:
    """One progress event of `fit_people`: chunk k of n, step of total within the chunk, mean losses over
    the chunk (term -> float), the watched person's id and (V, 3) viewer-frame vertices (or None)."""

    chunk: int
    chunks: int
    step: int
    total: int
    losses: dict[str, float]
    watched_pid: int | None
    vertices: np.ndarray | None
