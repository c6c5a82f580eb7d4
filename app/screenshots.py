"""`deformlearn screenshots OUTDIR`: drive the app through its main views and save PNGs (QWidget.grab).

Works under a virtual screen (xvfb-run) or QT_QPA_PLATFORM=offscreen. Error dialogs are recorded and printed
instead of blocking. Prints one JSON line: the files written and what was measured on the way.

The tour fits, accepts and runs a round, so it never opens the user's project (or the demo) itself: it works
on a copy in a temporary folder that is deleted afterwards. A project without an image of several people
(the demo) gets that picture from a small synthetic project made there too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from deformlearn.app.qt_env import ensure_application


def pump(until: Callable[[], bool] | None = None, timeout: float = 1.0) -> bool:
    """Run Qt's event loop until `until()` is true (looked at every 10 ms; for `timeout` seconds when no
    condition is given). Events are handled as they come, not after a sleep: a fit's progress events that
    waited out a 10 ms sleep reached the viewport in pairs, and only the newer of each pair was drawn."""
    from PySide6.QtCore import QEventLoop, QTimer

    end = time.perf_counter() + timeout
    loop = QEventLoop()
    while time.perf_counter() < end:
        QTimer.singleShot(10, loop.quit)
        loop.exec()
        if until is not None and until():
            return True
    return until is None


def working_copy(project: str | Path, scratch: Path) -> Path:
    """Copy the project folder `project` to `scratch`/project and return the copy (the tour writes only there)."""
    source = Path(project)
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such project folder")
    return Path(shutil.copytree(source, scratch / "project", ignore=shutil.ignore_patterns("*.lock")))


def _compare_two_fits(win, shot) -> None:
    """The first person with two fits or more: its fit history, the other fit drawn over the current one."""
    model = win.people.model
    for row in range(model.rowCount()):
        if len(win.project.fit_history(model.person_id(row))) >= 2:
            win.people.select_row(row)
            history = win.fit_history
            other = next((f for f in reversed(history.fits) if f.id != history.current_id and f.status != "failed"),
                         None)
            if other is None:
                continue
            win.work_tabs.setCurrentWidget(history)
            history.select_fit(other.id)
            history.compare_button.setChecked(True)
            shot("16_two_fit_comparison")
            history.compare_button.setChecked(False)
            return


def _mismatched_pair(win) -> None:
    """Pair the shown person's first dense point with a vertex on another body part (on the copy): the ring on
    the image, the highlighted vertex in the 3D view and the warning in the banner and the status bar."""
    from deformlearn.app.annotation_edit import part_mismatch

    s, template = win.scene, win.loader.template
    if s is None or not s.num_points:
        return
    part = int(s.dense_part[0])
    other = next((v for v in range(len(template.vertex_part)) if part_mismatch(part, int(template.vertex_part[v]))),
                 None)
    if other is not None:
        win.editor._image_clicked(*(float(c) for c in s.dense_xy[0]))
        win.editor.add_correspondence(int(other))


def _show_multi_person_image(win) -> bool:
    """Select the second person of the first image that shows several people; False when there is none."""
    from deformlearn.app.people_model import ROW_ROLE

    model = win.people.model
    model.ensure_loaded(min(model.rowCount(), 2000) - 1)
    for r in range(model.rowCount()):
        row = model.data(model.index(r, 0), ROW_ROLE)
        people = model.thumbnails.people_of_image(row.image_id, row.image_file) or []
        if len(people) > 1:
            return win.people.select_person(people[1])
    return False


def _synthetic_group_image(win, scratch: Path, shot) -> None:
    """Shot 12 for a project without an image of several people (the demo has one person per image): a small
    project of 3 people per image made by the core synth command in the scratch folder, fitted, its second
    person's image showing every person's box and fit."""
    folder = scratch / "group"
    subprocess.run([sys.executable, "-m", "deformlearn.core.cli", "synth", "--n", "6", "--people-per-image", "3",
                    "--seed", "1", "--out", str(folder)], check=True, stdout=subprocess.DEVNULL)
    win.guarded("Open project", win.open_project, folder)
    if win.project is None:
        return
    win.fit("all")
    pump(lambda: not win.runner.is_running(), 300)
    win.central_tabs.setCurrentWidget(win.image_view)
    if _show_multi_person_image(win):
        shot("12_multi_person_image", win.image_view)


def _tour_curation(win, shot) -> None:
    """Gallery, an image of several people, the edit-mode banner, the help overlay and the export dialog."""
    from deformlearn.app.export_dialog import ExportDialog

    win.central_tabs.setCurrentWidget(win.gallery)
    shot("11_gallery")
    win.central_tabs.setCurrentWidget(win.image_view)
    if _show_multi_person_image(win):
        shot("12_multi_person_image", win.image_view)
    _compare_two_fits(win, shot)
    win.actions_by_name["edit_add_point"].trigger()
    if win.scene is not None:
        x, y, w, h = win.scene.bbox
        win.editor._image_clicked(float(x + w / 2), float(y + h / 3))
    shot("13_edit_mode_add_point", win.image_view)
    _mismatched_pair(win)
    shot("13b_edit_pair_part_warning")
    win.actions_by_name["edit_view"].trigger()
    win.help_overlay.toggle()
    shot("14_help_overlay")
    win.help_overlay.toggle()
    dialog = ExportDialog(win.project, win.people.selected_people(), win)
    dialog.show()
    shot("15_export_dialog", dialog)
    dialog.close()


class _Tour:
    """The window, where the pictures go, and what was written and measured on the way."""

    def __init__(self, win, out: Path) -> None:
        self.win, self.out = win, out
        self.written: list[str] = []
        self.measured: dict[str, float | None] = {}

    def shot(self, name: str, widget=None, settle: float = 0.3) -> None:
        pump(timeout=settle)
        self.win.viewport.canvas.render_frame()
        path = self.out / f"{name}.png"
        (widget or self.win).grab().save(str(path))
        self.written.append(path.name)

    def fit(self) -> None:
        """Fit the first person, with a picture taken inside the progress slot while the fit is under way."""
        win = self.win
        canvas = win.viewport.canvas
        win.work_tabs.setCurrentWidget(win.registration)
        win.registration.steps.setValue(400)
        frames_before = len(canvas.frame_times)
        events: list = []
        win.runner.progress.connect(events.append)
        started = time.perf_counter()
        win.fit("selected")
        live: list[str] = []

        def grab_live(event) -> None:
            if not live and event.step >= 0.3 * event.total:
                path = self.out / "02_registration_live.png"
                live.append(path.name)
                win.grab().save(str(path))  # no event processing here: it would run the rest of the fit first

        win.runner.progress.connect(grab_live)
        pump(lambda: not win.runner.is_running(), 300)
        elapsed = time.perf_counter() - started
        win.runner.progress.disconnect(grab_live)
        self.written += live
        frames = len(canvas.frame_times) - frames_before
        median = sorted(canvas.render_seconds[-frames:])[frames // 2] if frames else None
        self.measured.update(fit_seconds=round(elapsed, 2), progress_events_per_s=round(len(events) / elapsed, 2),
                             viewport_fps_during_fit=round(frames / elapsed, 2),
                             viewport_frame_ms_median=None if median is None else round(1000 * median, 1))
        self.shot("03_registration_done")

    def image_and_viewport(self) -> None:
        win, iv = self.win, self.win.image_view
        iv.fit_style.setCurrentText("wireframe")
        iv.show_residuals.setChecked(True)
        iv.point_colour.setCurrentText("U")
        self.shot("04_image_wireframe_residuals_U", iv)
        iv.fit_style.setCurrentText("parts")
        iv.point_colour.setCurrentText("part")
        self.shot("05_image_fit_parts", iv)
        if win.scene is not None and win.scene.iuv is not None:
            iv.show_fit.setChecked(False)
            iv.show_iuv.setChecked(True)
            self.shot("05b_image_iuv", iv)
            iv.show_iuv.setChecked(False)
            iv.show_fit.setChecked(True)
        win.viewport.set_view("side")
        win.viewport.colour_mode.setCurrentText("residual")
        self.shot("06_viewport_side_residual", win.viewport)
        win.viewport.set_view("front")
        win.viewport.colour_mode.setCurrentText("parts")

    def training_and_people(self) -> None:
        win = self.win
        win.work_tabs.setCurrentWidget(win.training)
        interrupted = any(r.finished_at is None for r in win.project.rounds())
        win.training.start(resume=interrupted)
        pump(lambda: len(win.training.stages) > 0, 120)
        pump(timeout=3)
        self.shot("07_training_running")
        win.training.cancel()
        pump(lambda: not win.training.is_running(), 30)
        self.shot("08_training_panel")
        win.people.status.setCurrentText("unreviewed")
        win.people.use_threshold.setChecked(True)
        pump(timeout=0.5)
        self.shot("09_people_filtered", win.docks["People"])
        win.people.status.setCurrentText("all")
        win.people.use_threshold.setChecked(False)
        win.people.select_row(0)
        win.accept_current()
        self.shot("10_after_accept")


def _open_window(scratch: Path, project: str | None):
    """A main window with fresh settings (the user's layout and recent projects are neither used nor changed),
    showing a working copy of `project` (default: the demo, made first when missing)."""
    from PySide6.QtCore import QSettings

    from deformlearn.app import demo_project, menus
    from deformlearn.app.main_window import MainWindow

    win = MainWindow(qsettings=QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    win.resize(1600, 950)
    win.show()
    pump(timeout=0.3)
    if not project:
        if not demo_project.demo_exists():
            menus.open_demo(win, wait=True)  # makes the demo (and opens it: closed again below, untouched)
            pump(lambda: win.project is not None, 5)
            win.close_project()
        project = str(demo_project.demo_project_dir()) if demo_project.demo_exists() else None
    if project:
        win.guarded("Open project", win.open_project, working_copy(project, scratch))
        win.help_overlay.hide()  # shown over a demo opened for the first time; the tour shows it later
    return win


def main(outdir: str, project: str | None = None) -> int:
    app = ensure_application()
    from deformlearn.app import errors

    errors.captured = []
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory()
    win = _open_window(Path(scratch.name), project)
    if win.project is None:
        print(json.dumps({"error": "no project could be opened", "errors": errors.captured}))
        return 1
    tour = _Tour(win, out)
    win.people.select_row(0)
    pump(lambda: win.scene is not None, 5)
    tour.shot("01_main_window")
    tour.fit()
    tour.image_and_viewport()
    tour.training_and_people()
    _tour_curation(win, tour.shot)
    if "12_multi_person_image.png" not in tour.written:
        _synthetic_group_image(win, Path(scratch.name), tour.shot)
    win.close()
    pump(timeout=0.2)
    scratch.cleanup()
    print(json.dumps({"outdir": str(out), "files": tour.written, "measured": tour.measured, "errors": errors.captured}))
    del app
    return 0
