"""Light side of registration runs (no torch import): the thread owner the window uses. Its progress events
are core's `PipelineProgress` (numpy only).

The worker itself (app/registration_worker.py) imports the engine; it is imported only when a fit starts,
so the window opens without loading torch.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal


class RegistrationRunner(QObject):
    """Owns one worker thread at a time; re-emits the worker's signals on the GUI thread."""

    progress = Signal(object)
    finished = Signal(dict)
    failed = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker = None  # the running RegistrationWorker

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, worker) -> None:
        """Run a `RegistrationWorker` on a new thread."""
        if self._thread is not None:
            raise RuntimeError("a registration is already running; cancel it first")
        self._thread = QThread(self)
        self._worker = worker
        worker.moveToThread(self._thread)
        self._thread.started.connect(worker.run)
        worker.progress.connect(self.progress)
        worker.finished.connect(self._done)
        worker.failed.connect(self._crashed)
        self._thread.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def wait(self, ms: int = 30000) -> bool:
        return True if self._thread is None else self._thread.wait(ms)

    def _stop_thread(self) -> None:
        thread, self._thread, self._worker = self._thread, None, None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()

    def _done(self, summary: dict) -> None:
        self._stop_thread()
        self.finished.emit(summary)

    def _crashed(self, message: str) -> None:
        self._stop_thread()
        self.failed.emit(message)
