"""The project's rounds table and its bulk arrays under arrays/. A mixin of `Project`."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from deformlearn.core.files.atomic import atomic_write
from deformlearn.core.project.records import ProjectError, RoundRecord, to_json

ARRAYS_DIR = "arrays"


def _metrics(text: str) -> dict:
    """Stored round metrics; top-level nulls (strict JSON's NaN) back to NaN."""
    return {k: math.nan if v is None else v for k, v in json.loads(text).items()}


class RoundRecordsMixin:
    """Rounds and arrays of a `Project` (uses its connection, root and transactions)."""

    def start_round(self, index: int) -> None:
        """Create round `index` (or restart its clock if it exists; its stages and models are kept)."""
        with self.transaction():
            self._conn.execute("INSERT INTO rounds (idx, started_at) VALUES (?, ?) ON CONFLICT(idx) DO UPDATE "
                               "SET started_at = excluded.started_at, finished_at = NULL", (int(index), time.time()))

    def update_round(self, index: int, **fields) -> None:
        """Merge into round `index`: stages=dict, models=dict, metrics=dict (merged key by key),
        finished=True (stamps finished_at) or finished_at=float."""
        allowed = {"stages", "models", "metrics", "finished", "finished_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"update_round: unknown fields {sorted(unknown)}; expected {sorted(allowed)}")
        with self.transaction():
            row = self._conn.execute("SELECT stages, models, metrics, finished_at FROM rounds WHERE idx = ?",
                                     (int(index),)).fetchone()
            if row is None:
                raise ProjectError(f"{self._root}: no round {index}; call start_round first")
            merged = [json.loads(row[i]) | dict(fields.get(k, {})) for i, k in enumerate(("stages", "models", "metrics"))]
            finished_at = fields.get("finished_at", time.time() if fields.get("finished") else row[3])
            self._conn.execute("UPDATE rounds SET stages = ?, models = ?, metrics = ?, finished_at = ? WHERE idx = ?",
                               (*(to_json(m) for m in merged), finished_at, int(index)))

    def rounds(self) -> list[RoundRecord]:
        rows = self._conn.execute(
            "SELECT idx, stages, models, metrics, started_at, finished_at FROM rounds ORDER BY idx").fetchall()
        return [RoundRecord(r[0], json.loads(r[1]), json.loads(r[2]), _metrics(r[3]), r[4], r[5]) for r in rows]

    # -- bulk arrays ---------------------------------------------------------------------------------------
    def _array_path(self, relpath: str) -> Path:
        rel = Path(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"array path {relpath!r}: must be relative and stay under {ARRAYS_DIR}/")
        return self._root / ARRAYS_DIR / rel.with_suffix(".npy")

    def write_array(self, relpath: str, array: np.ndarray) -> Path:
        """Write `array` to arrays/<relpath>.npy atomically (temp file, fsync, os.replace); return the path."""
        if self._readonly:
            raise ProjectError(f"{self._root}: opened read-only")
        path = self._array_path(relpath)
        array = np.asarray(array)
        return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))

    def read_array(self, relpath: str) -> np.ndarray:
        path = self._array_path(relpath)
        if not path.is_file():
            raise ProjectError(f"{path}: no such array in the project")
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ProjectError(f"{path}: unreadable array ({exc})") from exc
