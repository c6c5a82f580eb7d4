"""The main window's registration side (a mixin of MainWindow): which people a Fit button means, starting the
worker, the live mesh of the watched person while it runs, and the end of a fit (summary, settings, dialogs).

Fit events can come faster than frames; only the newest mesh is drawn (`_pending_mesh`, a zero-delay timer).
A fit runs with what was alive at its start frozen (`gc.freeze()`, `gc.unfreeze()` at its end, so garbage of
the session is still collected between fits): the window's process holds some 475,000 long-lived objects
(torch, Qt, pyqtgraph), and a full collection of the cyclic garbage collector walks them all while holding the
interpreter lock. Measured with `benchmarks/app_interactive.py` (load 7 on the 2-core CPU), one or two such
collections came in every 1-2 s fit, 240-960 ms each: the worker thread relaying progress and the GUI thread
stood still meanwhile, and the events of that time reached the viewport as one burst, so it drew 2-6 frames
in a fit.
`start_fit_process` starts the fit process when a project opens (the window connects it to projectChanged),
so the first Fit does not wait for its engine import; `stop_fit_process` ends it when the window closes.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
from dataclasses import replace

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from deformlearn.app.errors import show_error
from deformlearn.core.registration import PipelineProgress

#: How long after a project opens its fit process starts (`FittingMixin.start_fit_process`).
FIT_PROCESS_DELAY_MS = 2000
#: Seconds a closing window waits for an idle fit process to leave its loop; one still importing the engine is
#: killed after that (nothing of a job is lost: the window cancelled and waited for its fit first).
FIT_PROCESS_STOP_S = 0.5


class FittingMixin:
    """Registration actions of `MainWindow` (uses its project, people, registration panel, runner, views)."""

    def make_fit_starter(self) -> None:
        """The timer and thread of `start_fit_process` (the window's constructor calls this once)."""
        self._fit_start_timer = QTimer(self, singleShot=True, interval=FIT_PROCESS_DELAY_MS)
        self._fit_start_timer.timeout.connect(self._start_fit_process_now)
        self._fit_starter: threading.Thread | None = None

    def project_opened(self) -> None:
        """What a newly opened project needs of the registration side: the panel back at the app's defaults
        (steps, weights: a value set for one project is not carried to the next) and the fit process."""
        self.registration.set_defaults(self.settings.registration)
        self.start_fit_process()

    def start_fit_process(self) -> None:
        """Start the app's fit process (registration_worker.fit_process) FIT_PROCESS_DELAY_MS from now, in a
        background thread: its engine import (4.5-11 s) then runs while the user looks at the project, not
        at the first Fit, and after the window has drawn the project (started at once, it competed with that
        for the CPU). The window connects this to every project it opens; `stop_fit_process` ends it."""
        self._fit_start_timer.start()

    def _start_fit_process_now(self) -> None:
        self._fit_starter = threading.Thread(target=_start_fit_process, name="deformlearn-fit-start", daemon=True)
        self._fit_starter.start()

    def stop_fit_process(self) -> None:
        """At the window's close: no fit process starts later, and the one running ends unless another main
        window is open (it shares the one fit process). Never imports the engine only to stop nothing."""
        self._fit_start_timer.stop()
        if self._fit_starter is not None:
            self._fit_starter.join()  # a start under way ends before the process is looked at
        worker = sys.modules.get("deformlearn.app.registration_worker")
        others = [w for w in QApplication.topLevelWidgets()
                  if w is not self and isinstance(w, FittingMixin) and w.isVisible()]
        if worker is not None and not others:
            worker.stop_fit_process(timeout=FIT_PROCESS_STOP_S)

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
        gc.freeze()  # what is alive now outlives the fit: no full collection walks it meanwhile (module docstring)
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
        gc.unfreeze()
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
        gc.unfreeze()
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
