"""Project ▸ Import: file dialogs for each input format, then the core importer (same code as the terminal) on a
worker thread, so the window stays responsive; a busy indicator shows in the status bar meanwhile.

The worker opens its own `Project` on the window's project folder (a store object belongs to one thread); the
window's own connection keeps reading (WAL) and sees the new people when the import commits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QProgressBar

from deformlearn.app.detect_actions import people_without_keypoints
from deformlearn.app.errors import show_error


@dataclass(frozen=True)
class ImportKind:
    """One input format: `key` is core.densepose.readers's kind; `source` "file" or "folder"; `file_filter` for
    the dialog; `needs_images` asks for the images folder; `optional_images` asks for it too, Cancel meaning
    "beside the files"; `pickle` asks whether the file is trusted; `skip_missing` offers to leave out
    detections whose image is not in that folder."""

    key: str
    label: str
    source: str
    file_filter: str = ""
    needs_images: bool = False
    pickle: bool = False
    skip_missing: bool = False
    optional_images: bool = False


IMPORT_KINDS: tuple[ImportKind, ...] = (
    ImportKind("coco-densepose", "COCO DensePose JSON + images…", "file", "JSON (*.json)", needs_images=True),
    ImportKind("iuv", "DensePose IUV/INDS folder…", "folder", optional_images=True),
    ImportKind("coco-keypoints", "Images with COCO keypoints…", "file", "JSON (*.json)", needs_images=True),
    ImportKind("openpose", "OpenPose keypoints folder…", "folder", optional_images=True),
    ImportKind("densepose-results", "DensePose results JSON + images…", "file", "JSON (*.json)", needs_images=True,
               skip_missing=True),
    ImportKind("densepose-pickle", "DensePose single-annotation pickle…", "file", "Pickle (*.pkl)", pickle=True),
    ImportKind("detectron2-dump", "detectron2 apply_net dump…", "file", "Pickle (*.pkl)", pickle=True),
)


def import_into_project(project, kind: str, source: str | Path, images_dir: str | Path | None = None,
                        trust_pickle: bool = False, skip_missing_images: bool = False) -> dict:
    """Read `source` as `kind` (core.densepose.readers) and add its people with their template correspondences to
    `project` (core.project.importing), exactly as `deformlearn import` does. Returns the import report."""
    from deformlearn.core.densepose import read_people
    from deformlearn.core.project import import_people, load_project_template

    people = read_people(kind, source, images_dir=images_dir, trust_pickle=trust_pickle,
                         skip_missing_images=skip_missing_images)
    report = import_people(project, people, load_project_template(project))
    return asdict(report)


class ImportWorker(QObject):
    """Lives on a QThread: `run()` opens the project folder, imports, emits `finished(report)` or `failed(exc)`
    and ends the thread's event loop (so `ImportRunner.wait` returns once the import is done)."""

    finished = Signal(dict)
    failed = Signal(object)

    def __init__(self, root: str | Path, kind: str, source, images_dir=None, trust_pickle: bool = False,
                 skip_missing_images: bool = False) -> None:
        super().__init__()
        self.root = str(root)
        self.args = (kind, source, images_dir, trust_pickle, skip_missing_images)

    def run(self) -> None:
        from deformlearn.core.project import Project

        try:
            with Project.open(self.root) as project:
                report = import_into_project(project, *self.args)
        except Exception as exc:  # reported to the window as a dialog
            self.failed.emit(exc)
            return
        finally:  # a window closing waits for this thread, its event loop blocked: the thread cannot wait for it
            QThread.currentThread().quit()
        self.finished.emit(report)


class ImportRunner(QObject):
    """Runs one `ImportWorker` at a time on its own thread; `finished(report or None)` is emitted on the GUI
    thread once the window has shown the result (people list refreshed, or the error dialog)."""

    finished = Signal(object)

    def __init__(self, win) -> None:
        super().__init__(win)
        self.win = win
        self._thread: QThread | None = None
        self._worker: ImportWorker | None = None
        self._source = self._worker_kind = ""
        self.busy_label = QLabel()
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # no progress count from the importer: an indeterminate (busy) bar
        self.busy_bar.setMaximumWidth(120)
        for widget in (self.busy_label, self.busy_bar):
            win.statusBar().addPermanentWidget(widget)
            widget.hide()

    def is_running(self) -> bool:
        return self._thread is not None

    def start(self, root, kind: str, source, images_dir=None, trust_pickle: bool = False,
              skip_missing_images: bool = False) -> None:
        if self._thread is not None:
            raise RuntimeError("An import is already running: wait for it to finish.")
        self._source, self._worker_kind = Path(source).name, kind
        self._thread = QThread(self)
        self._worker = ImportWorker(root, kind, source, images_dir, trust_pickle, skip_missing_images)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.finished.connect(self._done)
        self._worker.failed.connect(self._crashed)
        self.busy_label.setText(f"Importing {self._source}…")
        self.busy_label.show()
        self.busy_bar.show()
        self._thread.start()

    def wait(self, ms: int = 60000) -> bool:
        return True if self._thread is None else self._thread.wait(ms)

    def _stop_thread(self) -> None:
        thread, self._thread, self._worker = self._thread, None, None
        thread.quit()
        thread.wait()
        thread.deleteLater()
        self.busy_label.hide()
        self.busy_bar.hide()

    def _done(self, summary: dict) -> None:
        self._stop_thread()
        win = self.win
        hint = ""
        if win.project is not None:
            win.people.reload()
            win._update_status()
            without = people_without_keypoints(win.project)
            if without:
                hint = f"; {without} people have no keypoints (Project ▸ Detect keypoints gives them some)"
        overlaps = summary.get("overlaps", ())
        if overlaps:
            hint += f"; {len(overlaps)} pair(s) of people may be one person found twice: {overlaps[0]}"
        win.statusBar().showMessage(f"Imported {self._source}: {summary['added']} people added, "
                                    f"{summary['already_present']} already there{hint}", 15000)
        self.finished.emit(summary)

    def _crashed(self, exc: BaseException) -> None:
        self._stop_thread()
        label = next((k.label for k in IMPORT_KINDS if k.key == self._worker_kind), self._worker_kind)
        show_error(self.win, f"{label.rstrip('.…')} failed", exc)
        self.finished.emit(None)


def import_dialog(win, kind: ImportKind) -> None:
    """Ask for the inputs of `kind`, then import into the window's project on a worker thread."""
    if win.project is None:
        raise RuntimeError("Open or create a project first (Project ▸ New project).")
    if win.importer.is_running():
        raise RuntimeError("An import is already running: wait for it to finish.")
    if kind.source == "folder":
        source = QFileDialog.getExistingDirectory(win, kind.label.rstrip("…"))
    else:
        source, _ = QFileDialog.getOpenFileName(win, kind.label.rstrip("…"), "", kind.file_filter)
    if not source:
        return
    images = None
    if kind.needs_images:
        images = QFileDialog.getExistingDirectory(win, "Folder holding the images", str(Path(source).parent))
        if not images:
            return
    elif kind.optional_images:
        images = QFileDialog.getExistingDirectory(
            win, "Folder holding the photos (Cancel: they are beside the files)", str(source)) or None
    trust = False
    if kind.pickle:
        trust = QMessageBox.question(
            win, "Trust this file?", f"{Path(source).name} is a pickle: reading it can run code it contains.\n"
            "Do you trust where it came from?") == QMessageBox.StandardButton.Yes
    skip = False
    if kind.skip_missing:
        skip = QMessageBox.question(
            win, "Skip missing images?", f"Leave out detections whose image is not in {Path(images).name}?\n"
            "(No: a missing image stops the import.)") == QMessageBox.StandardButton.Yes
    run_import(win, kind.key, source, images, trust, skip)


def run_import(win, kind: str, source, images_dir=None, trust_pickle: bool = False,
               skip_missing_images: bool = False) -> None:
    """Start an import without dialogs (the dialogs' last step; tests and scripts call it directly); the
    window's `importer.finished` says when it is done."""
    win.importer.start(win.project.root, kind, source, images_dir, trust_pickle, skip_missing_images)
