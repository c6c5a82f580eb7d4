"""Project ▸ Import: file dialogs for each input format, then the core importer (same code as the terminal)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox


@dataclass(frozen=True)
class ImportKind:
    """One input format: `key` is core.densepose_io's kind; `source` "file" or "folder"; `file_filter` for
    the dialog; `needs_images` asks for the images folder; `pickle` asks whether the file is trusted."""

    key: str
    label: str
    source: str
    file_filter: str = ""
    needs_images: bool = False
    pickle: bool = False


IMPORT_KINDS: tuple[ImportKind, ...] = (
    ImportKind("coco-densepose", "COCO DensePose JSON + images…", "file", "JSON (*.json)", needs_images=True),
    ImportKind("iuv", "DensePose IUV/INDS folder…", "folder"),
    ImportKind("coco-keypoints", "Images with COCO keypoints…", "file", "JSON (*.json)", needs_images=True),
    ImportKind("densepose-results", "DensePose results JSON + images…", "file", "JSON (*.json)", needs_images=True),
    ImportKind("densepose-pickle", "DensePose single-annotation pickle…", "file", "Pickle (*.pkl)", pickle=True),
    ImportKind("detectron2-dump", "detectron2 apply_net dump…", "file", "Pickle (*.pkl)", pickle=True),
)


def import_into_project(project, kind: str, source: str | Path, images_dir: str | Path | None = None,
                        trust_pickle: bool = False) -> dict:
    """Read `source` as `kind` (core.densepose_io) and add its people with their template correspondences to
    the open project (core.project_import), exactly as `deformlearn import` does. Returns the import report."""
    from deformlearn.core.densepose_io import read_people
    from deformlearn.core.project_import import import_people, load_project_template

    people = read_people(kind, source, images_dir=images_dir, trust_pickle=trust_pickle)
    report = import_people(project, people, load_project_template(project))
    return asdict(report)


def import_dialog(win, kind: ImportKind) -> dict | None:
    """Ask for the inputs of `kind`, import into the window's project, refresh the views."""
    if win.project is None:
        raise RuntimeError("Open or create a project first (Project ▸ New project).")
    if kind.source == "folder":
        source = QFileDialog.getExistingDirectory(win, kind.label.rstrip("…"))
    else:
        source, _ = QFileDialog.getOpenFileName(win, kind.label.rstrip("…"), "", kind.file_filter)
    if not source:
        return None
    images = None
    if kind.needs_images:
        images = QFileDialog.getExistingDirectory(win, "Folder holding the images", str(Path(source).parent))
        if not images:
            return None
    trust = False
    if kind.pickle:
        trust = QMessageBox.question(
            win, "Trust this file?", f"{Path(source).name} is a pickle: reading it can run code it contains.\n"
            "Do you trust where it came from?") == QMessageBox.StandardButton.Yes
    return run_import(win, kind.key, source, images, trust)


def run_import(win, kind: str, source, images_dir=None, trust_pickle: bool = False) -> dict:
    """Import without dialogs (the dialogs' last step; tests and scripts call it directly)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        summary = import_into_project(win.project, kind, source, images_dir, trust_pickle)
    finally:
        QApplication.restoreOverrideCursor()
    win.people.reload()
    win._update_status()
    win.statusBar().showMessage(f"Imported {Path(source).name}: {summary['added']} people added, "
                                f"{summary['already_present']} already there", 10000)
    return summary
