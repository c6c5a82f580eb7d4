"""Menus of the main window: Project (new, open, recent, import, detect keypoints, demo, export), Review, Edit
(undo, redo, edit modes), View, Settings, Help."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QProcess, QSettings, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QProgressDialog

from deformlearn.app import demo_project, detect_actions, import_actions
from deformlearn.app.errors import show_error
from deformlearn.core.project import Project


def build_menus(win) -> None:
    """Project, Review, Edit, View, Settings and Help menus of the window (each action in `actions_by_name`)."""
    bar = win.menuBar()
    _project_menu(win, bar.addMenu("&Project"))
    _review_menu(win, bar.addMenu("&Review"))
    _edit_menu(win, bar.addMenu("&Edit"))
    view = bar.addMenu("&View")
    for dock in win.docks.values():
        view.addAction(dock.toggleViewAction())
    view.addSeparator()
    for name in ("front", "side", "top"):
        win.add_action(view, f"view_{name}", f"3D {name} view", lambda n=name: win.viewport.set_view(n))
    from deformlearn.app.settings_dialog import open_settings

    win.add_action(bar.addMenu("&Settings"), "preferences", "&Preferences…", lambda: open_settings(win))
    from deformlearn.app.help_overlay import install_help

    win.help_overlay = install_help(win, bar.addMenu("&Help"))


def _project_menu(win, project) -> None:
    win.add_action(project, "new_project", "&New project…", lambda: new_project(win), ["Ctrl+N"])
    win.add_action(project, "open_project", "&Open project…", lambda: open_project_dialog(win), ["Ctrl+O"])
    win.recent_menu = project.addMenu("Open &recent")
    win.recent_menu.aboutToShow.connect(lambda: fill_recent(win))
    imports = project.addMenu("&Import")
    for kind in import_actions.IMPORT_KINDS:
        win.add_action(imports, f"import_{kind.key}", kind.label, lambda k=kind: import_actions.import_dialog(win, k))
    win.add_action(project, "detect_keypoints", "Detect &keypoints…", lambda: detect_actions.detect_keypoints(win))
    project.addSeparator()
    win.add_action(project, "demo_project", "&Demo project", lambda: open_demo(win))
    win.add_action(project, "export", "&Export fits…", lambda: export_dialog(win), ["Ctrl+E"])
    project.addSeparator()
    win.add_action(project, "close_project", "&Close project", win.close_project)
    win.add_action(project, "quit", "&Quit", win.close, ["Ctrl+Q"])


def _review_menu(win, review) -> None:
    win.add_action(review, "accept", "&Accept", win.accept_current, ["A"])
    win.add_action(review, "reject", "&Reject", win.reject_current, ["R"])
    win.add_action(review, "reject_reason", "Reject with &reason…", lambda: win.reject_current(True), ["Shift+R"])
    win.add_action(review, "next", "&Next person", lambda: win.people.move(1), ["J"])
    win.add_action(review, "previous", "&Previous person", lambda: win.people.move(-1), ["K"])
    # Arrow keys: the list moves by itself; over the image and 3D views they move too, while spin boxes and
    # text fields keep their own arrows (a window-wide arrow shortcut would steal them).
    for view in (win.image_view, win.viewport):
        for key, step in (("Down", 1), ("Up", -1)):
            QShortcut(QKeySequence(key), view, context=Qt.ShortcutContext.WidgetWithChildrenShortcut,
                      activated=lambda s=step: win.people.move(s))
    review.addSeparator()
    win.add_action(review, "accept_selected", "Accept all &selected", lambda: win.decide_selected("accepted"),
                   ["Shift+A"])
    win.add_action(review, "reject_selected", "Reject all s&elected", lambda: win.decide_selected("rejected"),
                   ["Ctrl+Shift+R"])
    win.add_action(review, "reject_over", "Reject all over an &error…", win.reject_over_threshold)


def _edit_menu(win, edit) -> None:
    stack = win.undo_stack
    _follow_stack(win.add_action(edit, "undo", "&Undo", win.undo, ["Ctrl+Z"]), "&Undo", stack.canUndoChanged,
                  stack.undoTextChanged)
    _follow_stack(win.add_action(edit, "redo", "&Redo", win.redo, ["Ctrl+Shift+Z", "Ctrl+Y"]), "&Redo",
                  stack.canRedoChanged, stack.redoTextChanged)
    edit.addSeparator()
    from deformlearn.app.annotation_edit import install_edit_actions

    install_edit_actions(win, edit)


def _open_demo_project(win, path) -> None:
    """Open the demo; the first time, show the getting-started overlay over it."""
    win.open_project(path)
    qs = win.qsettings if win.qsettings is not None else QSettings()
    if not qs.value("help/demo_seen", False, type=bool):
        qs.setValue("help/demo_seen", True)
        win.help_overlay.toggle()


def _follow_stack(action, label: str, enabled_changed, text_changed) -> None:
    """Undo/redo menu entries say what they would undo ("Undo reject person 3") and grey out when there is none."""
    action.setEnabled(False)
    enabled_changed.connect(action.setEnabled)
    text_changed.connect(lambda text: action.setText(f"{label} {text}" if text else label))


SMPL_TEMPLATE_FILE = "template_smpl.npz"


def new_project(win) -> None:
    """Create a project in a chosen folder with the body model of Settings (built-in, or SMPL files the user
    owns, converted once into the project's own template file)."""
    folder = QFileDialog.getExistingDirectory(win, "Folder for the new project (empty or new)")
    if not folder:
        return
    template = "builtin"
    if win.settings.body_model == "smpl":
        from deformlearn.core.body import load_smpl_template, save_template

        smpl = load_smpl_template(win.settings.smpl_folder, uv_processed_mat=win.settings.uv_processed_mat or None)
        save_template(smpl, Path(folder) / SMPL_TEMPLATE_FILE)
        template = SMPL_TEMPLATE_FILE  # relative to the project, so the folder can move
    Project.create(folder, template=template).close()
    win.open_project(folder)


def open_project_dialog(win) -> None:
    folder = QFileDialog.getExistingDirectory(win, "Open a project folder")
    if folder:
        win.open_project(folder)


def fill_recent(win) -> None:
    win.recent_menu.clear()
    for path in win.settings.recent_projects:
        act = win.recent_menu.addAction(path)
        act.setEnabled(Path(path).is_dir())
        act.triggered.connect(lambda _=False, p=path: win.guarded("Open project", win.open_project, p))
    if not win.settings.recent_projects:
        win.recent_menu.addAction("(none yet)").setEnabled(False)


def open_demo(win, wait: bool = False) -> QProcess | None:
    """Open the demo project, making it first (a worker process running the core synth command)."""
    path = demo_project.demo_project_dir()
    if demo_project.demo_exists():
        _open_demo_project(win, path)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = QProcess(win)
    dialog = QProgressDialog("Making the demo project (synthetic people)…", "Cancel", 0, 0, win)
    dialog.setWindowTitle("Demo project")
    dialog.canceled.connect(proc.kill)
    output: list[str] = []
    proc.readyReadStandardError.connect(lambda: output.append(bytes(proc.readAllStandardError()).decode(errors="replace")))
    proc.readyReadStandardOutput.connect(lambda: output.append(bytes(proc.readAllStandardOutput()).decode(errors="replace")))

    def done(code: int, _status) -> None:
        dialog.close()
        if code == 0 and demo_project.demo_exists():
            win.guarded("Open demo project", _open_demo_project, win, path)
        elif not dialog.wasCanceled():
            show_error(win, "Could not make the demo project", "".join(output)[-2000:] or f"exit code {code}",
                       "Check that the engine is installed completely (`deformlearn synth --help`).")

    proc.finished.connect(done)
    proc.start(demo_project.python_executable(), demo_project.synth_command(path))
    if not wait:
        dialog.show()
    else:
        proc.waitForFinished(-1)
    return proc


def export_dialog(win) -> None:
    """Project ▸ Export fits: the dialog (app/export_dialog.py), then the export of the chosen people."""
    from deformlearn.app.export_dialog import ExportDialog

    if win.project is None:
        raise RuntimeError("Open a project first.")
    dialog = ExportDialog(win.project, win.people.selected_people(), win)
    if dialog.exec() == QDialog.DialogCode.Accepted:
        run_export(win, dialog)


def run_export(win, dialog) -> list[Path]:
    """Export what an accepted ExportDialog chose, files named image + person index; returns the files."""
    from deformlearn.app.export_dialog import unique_stems
    from deformlearn.core.export import export_fits

    ids, folder = dialog.people(), dialog.folder()
    stems = unique_stems({pid: win.people.model.thumbnails.label_of(pid) for pid in ids})
    written = export_fits(win.project, ids, folder, formats=dialog.formats(), frame=dialog.frame(), stems=stems)
    QMessageBox.information(win, "Export", f"Wrote {len(written)} files for {len(ids)} people to {folder} "
                            "(people without a fit are skipped).")
    return written
