"""Runs core's fit pipeline for people of a project on a worker thread; progress goes out as Qt signals.

The worker opens its own `Project` (a store object belongs to one thread) and calls
`deformlearn.core.registration.fit_people`, the same pipeline as `deformlearn register`: the panel's
settings are the stiff first stage of the staged single-fit schedule (`FitSchedule.single_fit`), people
without dense points are fitted on their keypoints, and each fit is stored with the one metric schema
(`keypoint_error_px`, `quality`, ...). Cancelling stops within one optimiser step; fits of a cancelled
chunk are not saved, earlier chunks are.
"""

from __future__ import annotations

import traceback

from PySide6.QtCore import QObject, Signal

from deformlearn.core.body import Template
from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.project import Project
from deformlearn.core.registration import FitPlan, FitSchedule, RegistrationSettings, fit_people

#: Round index of fits made from the app outside a deform-and-learn round.
MANUAL_ROUND = 0


class RegistrationWorker(QObject):
    """Lives on a QThread; `run()` fits, `cancel()` (any thread) asks it to stop."""

    progress = Signal(object)  # PipelineProgress
    finished = Signal(dict)  # FitSummary.to_dict(): fitted, failed, skipped (pids with nothing to fit), cancelled, ...
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
        plan = FitPlan(FitSchedule.single_fit(self.settings), round_index=MANUAL_ROUND, chunk_size=self.chunk_size)
        with Project.open(self.project_root) as project:
            try:
                summary = fit_people(project, self.template, self.person_ids, plan, progress=self.progress.emit,
                                     cancel=self._cancel, watch_pid=self.watch_pid)
            except Cancelled as exc:  # the chunks saved before the cancel are in exc.done
                return {**exc.done.to_dict(), "cancelled": True}
        return {**summary.to_dict(), "cancelled": False}
