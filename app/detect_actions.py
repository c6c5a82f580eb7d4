"""Project ▸ Detect keypoints: core's offline pose detector (core.detection, MediaPipe BlazePose in its own
environment) for the open project's people that have no keypoints, on a worker thread with a progress
dialog and Cancel.

The worker opens its own `Project` on the window's folder (a store object belongs to one thread). Core
stores every person's detection in one transaction at the end, so a cancelled run writes nothing. When the
detector's environment is missing, a dialog says so and how to install it, before anything starts.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtWidgets import QProgressDialog

from deformlearn.app.errors import show_error

INSTALL_ADVICE = ("Install it once from a terminal with `deformlearn detector install` (downloads mediapipe 0.10.21 "
                  "and its runtime from PyPI into the detector's own environment; set DEFORMLEARN_DETECTOR_ENV to "
                  "choose where), then choose Project ▸ Detect keypoints again.")


class DetectWorker(QObject):
    """Lives on a QThread: `run()` detects keypoints in the project at `root`; emits `progress(done, total)`
    per person, then `finished(report dict)`, `cancelled()` or `failed(exception)`, and ends the thread's event
    loop (so `DetectRunner.wait` returns once the run is over)."""

    progress = Signal(int, int)
    finished = Signal(dict)
    cancelled = Signal()
    failed = Signal(object)

    def __init__(self, root: str | Path) -> None:
        super().__init__()
        self.root = str(root)
        from deformlearn.core.cancel import CancelToken

        self.token = CancelToken()

    def _progress(self, done: int, total: int) -> None:
        self.progress.emit(done, total)
        self.token.raise_if_cancelled(f"keypoint detection stopped after {done} of {total} people")

    def run(self) -> None:
        from dataclasses import asdict

        from deformlearn.core.cancel import Cancelled
        from deformlearn.core.detection import detect_in_project
        from deformlearn.core.project import Project

        try:
            with Project.open(self.root) as project:
                report = detect_in_project(project, progress=self._progress)
        except Cancelled:
            self.cancelled.emit()
            return
        except Exception as exc:  # reported to the window as a dialog
            self.failed.emit(exc)
            return
        finally:  # a window closing waits for this thread, its event loop blocked: the thread cannot wait for it
            QThread.currentThread().quit()
        self.finished.emit(asdict(report))


class DetectRunner(QObject):
    """Runs one `DetectWorker` at a time with a progress dialog; `done(report dict or None)` is emitted once
    the window shows the result (None: cancelled or failed)."""

    done = Signal(object)

    def __init__(self, win) -> None:
        super().__init__(win)
        self.win = win
        self._thread: QThread | None = None
        self._worker: DetectWorker | None = None
        self.dialog: QProgressDialog | None = None

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, people: int) -> None:
        """Detect for the `people` people without keypoints of the window's project."""
        if self._thread is not None:
            raise RuntimeError("Keypoint detection is already running: wait for it or cancel it.")
        self._thread = QThread(self)
        self._worker = DetectWorker(self.win.project.root)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self._progress, Qt.ConnectionType.QueuedConnection)
        self._worker.finished.connect(self._finished)
        self._worker.cancelled.connect(self._cancelled)
        self._worker.failed.connect(self._failed)
        self.dialog = QProgressDialog(f"Detecting keypoints for {people} people without any…", "Cancel", 0, people,
                                      self.win)
        self.dialog.setWindowTitle("Detect keypoints")
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancel)
        self.dialog.show()
        self._thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.token.cancel()
            if self.dialog is not None:
                self.dialog.setLabelText("Cancelling after the current person…")

    def wait(self, ms: int = 60000) -> bool:
        return True if self._thread is None else self._thread.wait(ms)

    def _progress(self, done: int, total: int) -> None:
        if self.dialog is not None and not self._worker.token.cancelled:
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)
            self.dialog.setLabelText(f"Detecting keypoints: {done} of {total} people")

    def _stop(self) -> None:
        thread, self._thread, self._worker = self._thread, None, None
        thread.quit()
        thread.wait()
        thread.deleteLater()
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _finished(self, report: dict) -> None:
        self._stop()
        missing = f"; {report['no_image']} skipped, their image is not on disk" if report["no_image"] else ""
        self.win.statusBar().showMessage(
            f"Detected keypoints for {report['found']} of {report['people']} people without any{missing}.", 15000)
        self.win._after_data_change()
        self.done.emit(report)

    def _cancelled(self) -> None:
        self._stop()
        self.win.statusBar().showMessage("Keypoint detection cancelled: no keypoints were written.", 15000)
        self.done.emit(None)

    def _failed(self, exc: BaseException) -> None:
        self._stop()
        show_error(self.win, "Keypoint detection failed", exc,
                   "No keypoints were written. If the detector's environment is broken, reinstall it with "
                   "`deformlearn detector install`.")
        self.done.emit(None)


def people_without_keypoints(project) -> int:
    """How many of the project's people have no visible keypoint (what detection will look at)."""
    return sum(1 for _, keypoints in project.point_counts().values() if keypoints == 0)


def detect_keypoints(win) -> bool:
    """Project ▸ Detect keypoints: check the detector is installed (else a dialog saying how to install it),
    then detect for the people without keypoints; False when nothing was started."""
    from deformlearn.core.detection import DetectorNotInstalled, detector_python

    if win.project is None:
        raise RuntimeError("Open a project first (Project ▸ Open or Project ▸ Demo project).")
    try:
        detector_python()
    except DetectorNotInstalled as exc:
        show_error(win, "The pose detector is not installed", str(exc), INSTALL_ADVICE)
        return False
    people = people_without_keypoints(win.project)
    if not people:
        win.statusBar().showMessage("Every person already has keypoints: nothing to detect.", 10000)
        return False
    win.detector.start(people)
    return True
