"""The main window's registration side (a mixin of MainWindow): which people a Fit button means, starting the
worker, the live mesh of the watched person while it runs, and the end of a fit (summary, settings, dialogs).

Fit events can come faster than frames; only the newest mesh is drawn (`_pending_mesh`, a zero-delay timer).
`start_fit_process` starts the fit process when a project opens, so the first Fit does not wait for its
engine import.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from PySide6.QtCore import QTimer

from deformlearn.app.errors import show_error
from deformlearn.core.registration import PipelineProgress

#: How long after a project opens its fit process starts (`FittingMixin.start_fit_process`).
FIT_PROCESS_DELAY_MS = 2000


class FittingMixin:
    """Registration actions of `MainWindow` (uses its project, people, registration panel, runner, views)."""

    def project_opened(self) -> None:
        """What a newly opened project needs of the registration side: the panel back at the app's defaults
        (steps, weights: a value set for one project is not carried to the next) and the fit process."""
        self.registration.set_defaults(self.settings.registration)
        self.start_fit_process()

    def start_fit_process(self) -> None:
        """Start the app's fit process (registration_worker.fit_process) FIT_PROCESS_DELAY_MS from now, in a
        background thread: its engine import (4.5-11 s) then runs while the user looks at the project, not
        at the first Fit, and after the window has drawn the project (started at once, it competed with that
        for the CPU). It ends with the app (a daemon process that also watches the window's process)."""
        QTimer.singleShot(FIT_PROCESS_DELAY_MS, lambda: threading.Thread(
            target=_start_fit_process, name="deformlearn-fit-start", daemon=True).start())

    def people_for_scope(self, scope: str) -> list[int]:
        if self.project is None:
            return []
        if scope == "selected":
            return self.people.selected_people() or ([self.people.current_person()] if self.people.current_person() >= 0 else [])
        if scope == "all":
            return [int(i) for i in self.project.person_ids()]
        out, offset = [], 0  # unfitted: fit_status NULL sorts first in ascending order
        while True:
            rows = self.project.list_persons(offset=offset, limit=2000, order_by="fit_status")
            unfitted = [r.id for r in rows if r.fit_status is None]
            out += unfitted
            if len(rows) < 2000 or len(unfitted) < len(rows):
                return out
            offset += 2000

    def fit(self, scope: str) -> None:
        self.guarded("Fit", self._fit, scope)

    def _fit(self, scope: str) -> None:
        if self.project is None:
            raise RuntimeError("Open a project first (Project ▸ Open or Project ▸ Demo project).")
        pids = self.people_for_scope(scope)
        if not pids:
            raise RuntimeError(f"No people to fit ({scope}).")
        watch = self.scene.pid if self.scene is not None and self.scene.pid in pids else pids[0]
        from deformlearn.app.registration_worker import RegistrationWorker

        worker = RegistrationWorker(str(self.project.root), self.loader.template, pids, self.registration.settings(),
                                    watch_pid=watch)
        self.registration.set_running(True)
        self.runner.start(worker)

    def _fit_progress(self, event: PipelineProgress) -> None:
        self.registration.on_progress(event)
        if event.vertices is None or self.scene is None or event.watched_pid != self.scene.pid:
            return
        # Coalesce: when events come faster than frames, only the newest mesh is drawn.
        self._pending_mesh = event.vertices
        if not self._mesh_timer.isActive():
            self._mesh_timer.start()

    def _show_pending_mesh(self) -> None:
        from deformlearn.app.scene_loader import align_to_points

        verts, self._pending_mesh = self._pending_mesh, None
        if verts is None or self.scene is None:
            return
        self.viewport.update_vertices(verts)
        self.image_view.update_fit(align_to_points(verts, self.scene, self.loader.template.keypoint_weights))

    def _fit_finished(self, summary: dict) -> None:
        self.registration.on_finished(summary)
        # orientations carry over; steps and weights are the project's own (the Settings dialog's defaults)
        self.settings.registration = replace(self.settings.registration,
                                             orientations=self.registration.orientations.value())
        self.settings.save(self.qsettings)
        self._after_data_change()
        if summary.get("skipped"):
            show_error(self, "Some people were not fitted",
                       f"{len(summary['skipped'])} people have no dense points, so there is nothing to register.",
                       "Add correspondences to them (Edit ▸ Add correspondence), then fit again.")

    def _fit_failed(self, message: str) -> None:
        self.registration.set_running(False)
        self.registration.status.setText("failed")
        show_error(self, "Registration failed", message,
                   "The project is unchanged for the people that were being fitted. Check the settings "
                   "(device, learning rate) and try again.")


def _start_fit_process() -> None:
    try:
        from deformlearn.app.registration_worker import fit_process

        fit_process()
    except Exception:  # the first Fit starts it again and reports what goes wrong as a dialog
        logging.getLogger(__name__).exception("could not start the fit process in advance")
