"""Runs core registration for people of a project on a worker thread and saves the fits.

The worker opens its own `Project` (a store object belongs to one thread) and its own `BodyModel`, computes
missing template correspondences (core.rounds.loop.ensure_correspondences, as a round does), fits in
chunks of `chunk_size` people, and reports progress as Qt signals carrying plain numpy data. Cancelling
stops within one optimiser step; fits of a cancelled chunk are not saved, earlier chunks are.
"""

from __future__ import annotations

import time
import traceback

import numpy as np
from PySide6.QtCore import QObject, Signal

from deformlearn.app.registration_runner import FitProgress
from deformlearn.core.body import BodyModel, Template
from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.project import FitRecord, Project
from deformlearn.core.registration import (
    PersonFit,
    RegistrationProgress,
    RegistrationSettings,
    collate,
    persons_from_project,
    register,
)
from deformlearn.core.rounds import ensure_correspondences

#: Round index of fits made from the app outside a deform-and-learn round.
MANUAL_ROUND = 0


def fit_record(fit: PersonFit, round_index: int = MANUAL_ROUND) -> FitRecord:
    """A core PersonFit as the store's FitRecord; metrics["error"] is the mean dense error (256-frame px)."""
    metrics = {"error": fit.dense_error_px, "keypoint_error": fit.keypoint_error_px,
               "converged": float(fit.converged), "orientation": float(fit.orientation)}
    metrics.update({f"loss_{k}": v for k, v in fit.losses.items()})
    return FitRecord(person_id=int(fit.person_id), round_index=round_index, params=fit.params, metrics=metrics,
                     status="failed" if fit.failed else "converged")


def _points_per_person(project, person_ids: list[int]) -> dict[int, int]:
    """{person id: number of dense points}; many people are read from the light list pages, few one by one."""
    if len(person_ids) <= 1000:
        out = {}
        for pid in person_ids:
            dense = project.person(pid).dense
            out[pid] = 0 if dense is None else len(dense)
        return out
    out, offset, page = {}, 0, 20000
    while True:
        rows = project.list_persons(offset=offset, limit=page)
        out.update((r.id, r.num_points) for r in rows)
        if len(rows) < page:
            return {pid: out.get(pid, 0) for pid in person_ids}
        offset += page


class RegistrationWorker(QObject):
    """Lives on a QThread; `run()` fits, `cancel()` (any thread) asks it to stop."""

    progress = Signal(object)  # FitProgress
    finished = Signal(dict)  # {"fitted": n, "failed": n, "skipped": [pids without dense points], "cancelled", "seconds"}
    failed = Signal(str)  # what went wrong, in words (the traceback goes to the log)

    def __init__(self, project_root: str, template: Template, person_ids: list[int], settings: RegistrationSettings,
                 watch_pid: int | None = None, chunk_size: int = 256) -> None:
        super().__init__()
        self.project_root = project_root
        self.template = template
        self.person_ids = list(person_ids)
        self.settings = settings
        self.watch_pid = watch_pid
        self.chunk_size = chunk_size
        self._cancel = CancelToken()

    def cancel(self) -> None:
        self._cancel.cancel()

    def run(self) -> None:
        try:
            self.finished.emit(self._run())
        except Exception as exc:  # a crash of the worker must leave the window and the project intact
            traceback.print_exc()
            self.failed.emit(f"{type(exc).__name__}: {exc}")

    def _run(self) -> dict:
        started = time.perf_counter()
        body = BodyModel(self.template)
        summary = {"fitted": 0, "failed": 0, "skipped": [], "cancelled": False}
        with Project.open(self.project_root) as project:
            points = _points_per_person(project, self.person_ids)
            ready = [pid for pid in self.person_ids if points[pid] > 0]  # no dense points: nothing to register
            summary["skipped"] = [pid for pid in self.person_ids if points[pid] == 0]
            key = ensure_correspondences(project, self.template, np.array(ready, np.int64))
            chunks = [ready[i:i + self.chunk_size] for i in range(0, len(ready), self.chunk_size)]
            for k, chunk in enumerate(chunks):
                if self._cancel.cancelled:
                    break
                batch = collate(persons_from_project(project, chunk, key), device=self.settings.device)
                watch = [chunk.index(self.watch_pid)] if self.watch_pid in chunk else ([0] if k == 0 else [])
                try:
                    result = register(body, batch, self.settings, progress=self._reporter(k, len(chunks), chunk, watch),
                                      cancel=self._cancel, watch=watch)
                except Cancelled:  # this chunk's fits are not saved, earlier chunks' are
                    break
                project.save_fits([fit_record(f) for f in result.fits])
                summary["fitted"] += sum(not f.failed for f in result.fits)
                summary["failed"] += sum(f.failed for f in result.fits)
        summary["cancelled"] = self._cancel.cancelled
        summary["seconds"] = time.perf_counter() - started
        return summary

    def _reporter(self, k: int, n: int, chunk: list[int], watch: list[int]):
        def report(event: RegistrationProgress) -> None:
            losses = {name: float(np.nanmean(v)) for name, v in event.losses.items()}
            verts = None if event.vertices is None else np.asarray(event.vertices[0], np.float64)
            self.progress.emit(FitProgress(k, n, event.step, event.total, losses,
                                           chunk[watch[0]] if watch else None, verts))
        return report
