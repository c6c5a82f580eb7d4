"""Benchmark: how fast and how live a single-person fit is in the app. Prints one JSON line.

Makes a synthetic project with the built-in template (the core `synth` command, so every person has ground
truth), opens it in the main window and fits from the registration panel with the defaults the app uses
(the panel's steps and orientations unless given): the first person (the first fit of a session, which
also loads the engine: torch and the fitter are imported on the first Fit), then a second person, then the
first person again (a re-fit). For each fit: wall time from the click to the stored fit, the fit
pipeline's own time, the CPU seconds of the fit process meanwhile (the first fit's include its start and
engine import), the steps it ran, the stored fit's verdict and errors (dense and keypoint px of the
256 frame, MPJPE in mm against the truth) and what the 3D viewport drew meanwhile (frames per second,
median render time and interval, mesh builds against geometry-only uploads, how far the skeleton moved).
"single_fit_seconds" is the median wall time of the fits after the first, "good_fits" how many of all
fits were judged good. Then orbits the camera with no fit running (camera-only frames).

    QT_QPA_PLATFORM=offscreen python benchmarks/app_interactive.py [--steps N] [--orientations M]

The viewport needs no window system (frames come from pyrender over EGL), so offscreen Qt works; under a
display (Xvfb) the numbers include Qt's own painting.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _median_ms(seconds: list[float]) -> float | None:
    return round(1000 * float(np.median(seconds)), 1) if seconds else None


def make_project(out: Path, people: int) -> None:
    cmd = [sys.executable, "-m", "deformlearn.core.cli", "synth", "--n", str(people), "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def fit_figures(project: Path, pid: int) -> dict:
    """The stored latest fit of `pid`: steps, verdict, dense / keypoint px and MPJPE (mm) against its truth."""
    from deformlearn.core.body import BodyModel
    from deformlearn.core.metrics import mpjpe_mm
    from deformlearn.core.project import Project
    from deformlearn.core.project.importing import load_project_template
    from deformlearn.core.registration import keypoint_error_of
    from deformlearn.core.rounds.metrics import fit_keypoints_camera

    with Project.open(project) as p:
        fit, truth = p.latest_fit(pid), p.ground_truth(pid)
        body = BodyModel(load_project_template(p))
    out = {"steps": int(fit.metrics["steps"]), "quality": fit.metrics["quality"],
           "dense_px": round(float(fit.metrics["error"]), 2),
           "keypoint_px": round(float(keypoint_error_of(fit.metrics)), 2)}
    if truth is not None:
        out["mpjpe_mm"] = round(mpjpe_mm(fit_keypoints_camera(body, [fit.params]), fit_keypoints_camera(body, [truth])), 1)
    return out


def fit_process_cpu_seconds() -> float:
    """CPU seconds (user + system) the app's fit process has used so far; 0 before it exists."""
    from deformlearn.app import registration_worker

    if not registration_worker.fit_process_alive():
        return 0.0
    fields = Path(f"/proc/{registration_worker.fit_process().pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_fit(win, project: Path, row: int, label: str) -> dict:
    """Select `row`, press Fit (selected) and wait for it; what it took and what the viewport drew."""
    from PySide6.QtCore import QEventLoop, QTimer

    from deformlearn.app.screenshots import pump

    win.people.select_row(row)
    pump(lambda: win.scene is not None and win.scene.pid == win.people.current_person(), 10)
    vp, canvas = win.viewport, win.viewport.canvas
    canvas.render_frame()
    rest_joints = vp.skeleton.joints.copy()
    first, (builds, updates) = len(canvas.frame_times), canvas.render_thread.uploads
    moved, summary = [], {}
    win.runner.progress.connect(on_progress := lambda e: moved.append(float(np.abs(vp.skeleton.joints - rest_joints).max())))
    win.runner.finished.connect(on_finished := summary.update)
    loop = QEventLoop()  # the app's own event loop, not a polling pump that sleeps between looks
    win.runner.finished.connect(loop.quit)
    win.runner.failed.connect(loop.quit)
    QTimer.singleShot(600_000, loop.quit)
    cpu_before = fit_process_cpu_seconds()
    started = time.perf_counter()
    win.fit("selected")
    if win.runner.is_running():
        loop.exec()
    elapsed = time.perf_counter() - started
    fit_cpu = fit_process_cpu_seconds() - cpu_before
    win.runner.finished.disconnect(loop.quit)
    win.runner.failed.disconnect(loop.quit)
    win.runner.progress.disconnect(on_progress)
    win.runner.finished.disconnect(on_finished)
    times, seconds = canvas.frame_times[first:], canvas.render_seconds[first:]
    pid = win.scene.pid
    return {"fit": label, "person": pid, "seconds": round(elapsed, 2),
            "pipeline_seconds": round(float(summary.get("seconds", float("nan"))), 2),
            "fit_process_cpu_seconds": round(fit_cpu, 2), **fit_figures(project, pid),
            "frames": len(times), "viewport_fps": round(len(times) / elapsed, 1),
            "viewport_frame_ms_median": _median_ms(seconds),
            "frame_interval_ms_median": _median_ms(list(np.diff(times))) if len(times) > 1 else None,
            "mesh_builds": canvas.render_thread.uploads[0] - builds,
            "geometry_uploads": canvas.render_thread.uploads[1] - updates,
            "skeleton_moved_m_max": round(max(moved), 3) if moved else 0.0}


def measure(project: Path, steps: int | None, orientations: int | None, width: int, height: int,
            viewport: tuple[int, int]) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from deformlearn.app.main_window import MainWindow
    from deformlearn.app.qt_env import ensure_application
    from deformlearn.app.screenshots import pump

    app = ensure_application()
    scratch = tempfile.TemporaryDirectory()
    win = MainWindow(qsettings=QSettings(str(Path(scratch.name) / "settings.ini"), QSettings.Format.IniFormat))
    win.resize(width, height)
    win.show()
    win.viewport.canvas.setFixedSize(*viewport)  # frames of one size, whatever room the layout leaves the dock
    win.open_project(str(project))
    if steps is not None:
        win.registration.steps.setValue(steps)
    if orientations is not None:
        win.registration.orientations.setValue(orientations)
    fits = [timed_fit(win, project, 0, "first (loads the engine)"), timed_fit(win, project, 1, "second person"),
            timed_fit(win, project, 0, "re-fit")]
    canvas = win.viewport.canvas
    orbit = []
    for k in range(30):
        canvas.camera.azimuth = 12.0 * k
        canvas.render_frame()
        orbit.append(canvas.render_seconds[-1])
    warm = fits[1:]
    result = {
        "vertices": int(win.viewport.mesh.num_vertices), "viewport_px": [canvas.width(), canvas.height()],
        "backend": canvas.backend, "steps": win.registration.steps.value(),
        "orientations": win.registration.orientations.value(),
        "single_fit_seconds": round(float(np.median([f["seconds"] for f in warm])), 2),
        "first_fit_seconds": fits[0]["seconds"],
        "good_fits": sum(f["quality"] == "good" for f in fits), "num_fits": len(fits),
        "viewport_fps_during_fit": round(float(np.median([f["viewport_fps"] for f in warm])), 1),
        "fits": fits, "orbit_frame_ms_median": _median_ms(orbit), "load_1min": round(os.getloadavg()[0], 2),
    }
    win.close()
    pump(timeout=0.2)
    del app
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a project to fit a copy of (default: a new synthetic one)")
    parser.add_argument("--people", type=int, default=4, help="people in the synthetic project")
    parser.add_argument("--steps", type=int, default=None, help="panel steps (default: the app's)")
    parser.add_argument("--orientations", type=int, default=None, help="panel orientations (default: the app's)")
    parser.add_argument("--window", default="1280x800", help="main window size, WxH")
    parser.add_argument("--viewport", default="654x240",
                        help="3D canvas size, WxH (default: what a 1280x800 window gave it before the people dock "
                             "widened)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.window.lower().split("x"))
    viewport = tuple(int(v) for v in args.viewport.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        if args.project:  # a copy: the fit must not add to someone's project
            shutil.copytree(args.project, project)
        else:
            make_project(project, args.people)
        print(json.dumps(measure(project, args.steps, args.orientations, width, height, viewport)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
