"""The main window: people list, image view, 3D viewport, registration and training docks, review keys.

The window owns the open `Project` (GUI thread only; workers open their own) and keeps the views on the
selected person. Every review decision is written at once; errors become dialogs (app/errors.py). Its
registration actions (Fit buttons, live mesh, end of a fit) are in app/window_fitting.py, its menus in
app/menus.py.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLabel, QMainWindow, QSizePolicy, QTabWidget

from deformlearn.app.detect_actions import DetectRunner
from deformlearn.app.errors import show_error
from deformlearn.app.fit_history_view import FitHistoryView
from deformlearn.app.help_overlay import add_weight_tooltips
from deformlearn.app.image_view import ImageView
from deformlearn.app.import_actions import ImportRunner
from deformlearn.app.people_panel import PEOPLE_DOCK_PX, PeoplePanel
from deformlearn.app.person_scene import PersonScene
from deformlearn.app.registration_panel import RegistrationPanel
from deformlearn.app.registration_runner import RegistrationRunner
from deformlearn.app.review import ReviewController
from deformlearn.app.settings import AppSettings
from deformlearn.app.training_panel import TrainingPanel
from deformlearn.app.undo import push_done
from deformlearn.app.viewport import Viewport3D
from deformlearn.app.window_fitting import FittingMixin
from deformlearn.core.project import Project

#: At most this many of the image's other people have their fits drawn beside the current one's.
MAX_OTHER_FITS = 8


class MainWindow(FittingMixin, QMainWindow):
    """Deform & Learn Studio's window. `open_project(path)` loads a project; `project` is the open one."""

    projectChanged = Signal()
    sceneShown = Signal(int)

    def __init__(self, settings: AppSettings | None = None, qsettings: QSettings | None = None) -> None:
        super().__init__()
        self.qsettings = qsettings
        self.settings = settings or AppSettings.load(qsettings)
        self.setWindowTitle("Deform & Learn Studio")
        self.resize(1500, 900)
        self.project: Project | None = None
        self.loader = None  # SceneLoader of the open project
        self.scene: PersonScene | None = None
        self._make_workers()
        self._make_views()
        self._make_work_tabs()
        self._make_docks()
        self.status_label = QLabel("No project open: Project ▸ Open, or Project ▸ Demo project")
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.statusBar().addWidget(self.status_label, 1)
        self.actions_by_name: dict[str, QAction] = {}
        from deformlearn.app.menus import build_menus

        build_menus(self)
        self._restore_layout()

    def _make_workers(self) -> None:
        """The undo stack and review controller, and the runners of fits, imports and keypoint detection."""
        self.undo_stack = QUndoStack(self)  # every user action: reviews, bulk reviews, annotation edits
        self.review = ReviewController(self.undo_stack, self)
        self.review.changed.connect(self._reviewed)
        self.review.focus.connect(lambda pid: self.people.select_person(pid))
        self.runner = RegistrationRunner(self)
        self.importer = ImportRunner(self)
        self.detector = DetectRunner(self)
        self._pending_mesh = None
        self._mesh_timer = QTimer(self, singleShot=True, interval=0)
        self._mesh_timer.timeout.connect(self._show_pending_mesh)
        self.make_fit_starter()

    def _make_views(self) -> None:
        """The people list, the image view and gallery (the central tabs), and the 3D viewport."""
        self.image_view = ImageView()
        self.people = PeoplePanel()
        self.people.personSelected.connect(self.show_person)
        self.gallery = self.people.gallery
        self.gallery.doubleClicked.connect(lambda _: self.central_tabs.setCurrentWidget(self.image_view))
        self.central_tabs = QTabWidget()
        self.central_tabs.addTab(self.image_view, "Image")
        self.central_tabs.addTab(self.gallery, "Gallery")
        self.central_tabs.setTabToolTip(1, "Every listed person as a crop of its box, framed by review status; "
                                        "the list's filters and sort apply. Double-click opens the image.")
        self.setCentralWidget(self.central_tabs)
        self.viewport = Viewport3D()

    def _make_work_tabs(self) -> None:
        """The registration, training and fit-history panels, wired to the runner and the window."""
        self.registration = RegistrationPanel(self.settings.registration)
        self.registration.device.setCurrentText(self.settings.device)
        self.registration.orientations.setValue(self.settings.registration.orientations)
        add_weight_tooltips(self.registration)
        self.registration.fitRequested.connect(self.fit)
        self.registration.cancelRequested.connect(self.runner.cancel)
        self.runner.progress.connect(self._fit_progress)
        self.runner.finished.connect(self._fit_finished)
        self.runner.failed.connect(self._fit_failed)
        self.projectChanged.connect(self.project_opened)  # panel defaults and the early fit process
        self.training = TrainingPanel()
        self.training.roundFinished.connect(self._round_finished)
        self.fit_history = FitHistoryView()
        self.fit_history.makeCurrent.connect(lambda pid, fit_id: self.guarded("Make fit current", self.make_fit_current,
                                                                              pid, fit_id))
        self.fit_history.compare.connect(lambda fit: self.guarded("Compare fits", self.compare_fit, fit))
        self.work_tabs = QTabWidget()
        self.work_tabs.addTab(self.registration, "Registration")
        self.work_tabs.addTab(self.training, "Training")
        self.work_tabs.addTab(self.fit_history, "Fit history")

    def _make_docks(self) -> None:
        """People on the left; the 3D view above the work tabs on the right."""
        self.docks: dict[str, QDockWidget] = {}
        self._dock("People", self.people, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("3D view", self.viewport, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Work", self.work_tabs, Qt.DockWidgetArea.RightDockWidgetArea)
        self._default_sizes_pending = True

    def _default_dock_sizes(self) -> None:
        """The docks' sizes of a first start (no saved layout), set once the window has its size: set before,
        they were scaled down with the unshown window (the people dock came out at 325 px of 380). The people
        dock is wide enough for the list's columns up to "fit" (people_panel.COLUMN_WIDTHS) without scrolling."""
        self.resizeDocks([self.docks["People"]], [PEOPLE_DOCK_PX], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["3D view"], self.docks["Work"]], [480, 480], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["3D view"], self.docks["Work"]], [520, 380], Qt.Orientation.Vertical)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._default_sizes_pending:
            self._default_sizes_pending = False
            self._default_dock_sizes()

    def _qs(self) -> QSettings:
        return self.qsettings if self.qsettings is not None else QSettings()

    def _restore_layout(self) -> None:
        geometry, state = self._qs().value("window/geometry"), self._qs().value("window/state")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None and self.restoreState(state):
            self._default_sizes_pending = False

    def _dock(self, title: str, widget, area) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[title] = dock

    def add_action(self, menu, name: str, text: str, slot, shortcuts=()) -> QAction:
        act = QAction(text, self)
        act.setObjectName(name)
        if shortcuts:
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
        act.triggered.connect(lambda _=False: self.guarded(text, slot))
        menu.addAction(act)
        self.actions_by_name[name] = act
        return act

    def guarded(self, what: str, slot, *args):
        """Run a slot; an exception becomes an error dialog (what went wrong, what to do), never a traceback."""
        try:
            return slot(*args)
        except Exception as exc:  # every failure of a user action ends in a dialog
            show_error(self, f"{what.replace('&', '').rstrip('.…')} failed", exc)
            return None

    # ---- project -----------------------------------------------------------------------------------------
    def open_project(self, path) -> None:
        if self.runner.is_running() or self.training.is_running():
            raise RuntimeError("A fit or a round is running: cancel it before opening another project.")
        if self.importer.is_running() or self.detector.is_running():
            raise RuntimeError("An import or a keypoint detection is running: wait for it to finish (or cancel "
                               "it) before opening another project.")
        from deformlearn.app.scene_loader import SceneLoader  # the engine (torch) loads with the first project
        from deformlearn.core.project import load_project_template

        project = Project.open(path)
        try:
            template = load_project_template(project)
        except Exception:
            project.close()
            raise
        self.close_project()
        self.project = project
        self.undo_stack.clear()
        self.loader = SceneLoader(project, template)
        self.image_view.set_template_faces(template.faces, template.face_part)
        self.viewport.set_template(template)
        self.review.set_project(project)
        self.training.set_project(project)
        self.settings.add_recent(project.root)
        self.settings.save(self.qsettings)
        self.setWindowTitle(f"Deform & Learn Studio — {project.root.name}")
        self.people.set_project(project)
        self._update_status()
        self.projectChanged.emit()

    def close_project(self) -> None:
        if self.project is None:
            return
        self.people.set_project(None)
        self.review.set_project(None)
        self.training.set_project(None)
        self.undo_stack.clear()
        self.project.close()
        self.project, self.loader, self.scene = None, None, None
        self.image_view.set_scene(None)
        self.viewport.set_body(None)

    def _update_status(self) -> None:
        if self.project is None:
            return
        s = self.project.summary()
        self.status_label.setText(
            f"{self.project.root}: {s['persons']:,} people, {s['fitted']:,} fitted, {s['failed']:,} failed, "
            f"{s['accepted']:,} accepted, {s['rejected']:,} rejected, {s['finished_rounds']} rounds")

    # ---- selection ---------------------------------------------------------------------------------------
    def show_person(self, pid: int) -> None:
        if self.loader is None or pid < 0:
            self.scene = None
            self.image_view.set_scene(None)
            return
        try:
            scene = self.loader.load(pid)
        except Exception as exc:
            show_error(self, f"Could not show person {pid}", exc)
            return
        thumbnails = self.people.model.thumbnails
        scene.name = thumbnails.label_of(pid)
        self.scene = scene
        self.editor.forget_pick()
        self.image_view.set_scene(scene)
        same_image = thumbnails.same_image(pid)
        self.image_view.set_people_boxes(same_image, pid)
        self.image_view.set_other_fits(self._other_fits(pid, same_image))
        self.fit_history.set_person(self.project, pid)
        if scene.fit_vertices_body is not None:
            self.viewport.set_body(scene.fit_vertices_body, scene.fit_joints_body, scene.vertex_residual, recentre=True)
        else:
            self.viewport.set_body(*self.loader.rest_viewer(), recentre=True)
        ok = scene.dense_vertex >= 0
        self.viewport.set_marked(np.unique(scene.dense_vertex[ok]))
        self.sceneShown.emit(pid)

    def _other_fits(self, pid: int, same_image: list[tuple[int, str, np.ndarray]]) -> list[np.ndarray]:
        """The projected current fits (V, 3) of up to MAX_OTHER_FITS other people on `pid`'s image; a person
        whose fit cannot be posed is left out (the status bar says why), never the shown person."""
        fits = []
        for other, _, box in [p for p in same_image if p[0] != pid][:MAX_OTHER_FITS]:
            try:
                fit = self.loader.fit_on_image(other, box)
            except Exception as exc:
                self.statusBar().showMessage(f"person {other}'s fit is not drawn: {exc}", 8000)
                continue
            if fit is not None:
                fits.append(fit)
        return fits

    # ---- fit history -------------------------------------------------------------------------------------
    def make_fit_current(self, pid: int, fit_id: int) -> None:
        """Make fit `fit_id` person `pid`'s current one (its decision comes along), as one undo step."""
        project = self.project
        before = project.person(pid).current_fit_id
        project.set_current_fit(pid, fit_id)
        self._fit_switched(pid)

        def apply(forward: bool) -> None:
            if project is not self.project:
                raise RuntimeError("That change belongs to a project that is no longer open.")
            project.set_current_fit(pid, fit_id if forward else before)
            self._fit_switched(pid)

        push_done(self.undo_stack, f"make fit {fit_id} current (person {pid})", apply, self)

    def _fit_switched(self, pid: int) -> None:
        self.people.model.update_row(pid)
        self._update_status()
        if not self.people.select_person(pid) or (self.scene is not None and self.scene.pid == pid):
            self.show_person(pid)

    def compare_fit(self, fit) -> None:
        """Overlay another fit (FitRecord, or None to stop) of the shown person as a wireframe."""
        if fit is None or self.scene is None:
            self.image_view.set_compare(None)
            return
        from deformlearn.app.scene_loader import viewer_to_image

        verts, _, _ = self.loader.pose(fit.params)
        self.image_view.set_compare(viewer_to_image(verts, float(np.asarray(fit.params["scale"])),
                                                    np.asarray(fit.params["translation"], np.float64), self.scene.bbox))

    # ---- review ------------------------------------------------------------------------------------------
    def accept_current(self) -> None:
        pid = self.people.current_person()
        if pid >= 0:
            self.review.accept(pid)
            self.people.move(1)

    def reject_current(self, ask_reason: bool = False) -> None:
        pid = self.people.current_person()
        if pid < 0:
            return
        reason = ""
        if ask_reason:
            reason, ok = QInputDialog.getText(self, "Reject", "Reason (optional):")
            if not ok:
                return
        self.review.reject(pid, reason)
        self.people.move(1)

    def decide_selected(self, status: str) -> int:
        """Accept or reject every selected person (in the list or the gallery) as one undo step."""
        pids = self.people.selected_people()
        return len(self.review.decide(pids, status)) if pids else 0

    def undo(self) -> None:
        """Undo the last action of any kind (review, bulk review, annotation edit); it shows the person it changed."""
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    def reject_over_threshold(self, threshold: float | None = None) -> int:
        if self.project is None:
            return 0
        if threshold is None:
            threshold, ok = QInputDialog.getDouble(self, "Reject over error", "Reject every fit whose error (px) is above:",
                                                   10.0, 0.0, 1e6, 2)
            if not ok:
                return 0
        return len(self.review.reject_over(threshold))

    def _reviewed(self, pids: list) -> None:
        if len(pids) > 20:
            self.people.model.refresh()
        else:
            for pid in pids:
                self.people.model.update_row(pid)
        if self.scene is not None and self.scene.pid in pids:
            self.scene.status = self.project.person(self.scene.pid).status
            self.image_view.redraw()
        self._update_status()

    # ---- data changes ------------------------------------------------------------------------------------
    def _after_data_change(self) -> None:
        """Re-read rows and the shown person after fits or a round changed the project."""
        if self.project is None:
            return
        self.people.reload()  # re-selecting the current person re-reads its fit
        self._update_status()

    def _round_finished(self, _code: int) -> None:
        self.training.show_round_metrics(self.project)
        self._after_data_change()

    # ---- lifetime ----------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        self._qs().setValue("window/geometry", self.saveGeometry())
        self._qs().setValue("window/state", self.saveState())
        self.runner.cancel()
        self.runner.wait()
        self.importer.wait()  # an import is one transaction: let it commit or roll back before closing
        self.detector.cancel()
        self.detector.wait()
        if self.training.is_running():
            self.training.cancel()
            self.training.process.waitForFinished(5000)
        self.viewport.canvas.shutdown()
        self.stop_fit_process()
        self.close_project()
        super().closeEvent(event)
