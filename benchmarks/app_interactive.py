"""Benchmark: how live the app looks while one person is fitted.

Makes a synthetic project with the built-in template (the core `synth` command), opens it in the main window,
fits the first person from the registration panel (steps and orientations as given) and records every frame
the 3D viewport draws meanwhile: the render time of each frame, the interval between frames, frames per
second over the fit, and the renderer's mesh builds versus geometry-only uploads (a live fit should build
once and then send positions only). Then orbits the camera with no fit running (camera-only frames). Prints
one JSON line.

    QT_QPA_PLATFORM=offscreen python benchmarks/app_interactive.py [--steps 300] [--orientations 4]

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


def measure(project: Path, steps: int, orientations: int, width: int, height: int) -> dict:
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
    win.open_project(str(project))
    win.people.select_row(0)
    pump(lambda: win.scene is not None, 10)
    vp, canvas = win.viewport, win.viewport.canvas
    canvas.render_frame()
    rest_joints = vp.skeleton.joints.copy()
    win.registration.steps.setValue(steps)
    win.registration.orientations.setValue(orientations)
    first = len(canvas.frame_times)
    builds, updates = canvas.render_thread.uploads
    moved = []
    win.runner.progress.connect(lambda e: moved.append(float(np.abs(vp.skeleton.joints - rest_joints).max())))
    started = time.perf_counter()
    win.fit("selected")
    pump(lambda: not win.runner.is_running(), 600)
    elapsed = time.perf_counter() - started
    times, seconds = canvas.frame_times[first:], canvas.render_seconds[first:]
    fit_uploads = [a - b for a, b in zip(canvas.render_thread.uploads, (builds, updates))]
    orbit = []
    for k in range(30):
        canvas.camera.azimuth = 12.0 * k
        canvas.render_frame()
        orbit.append(canvas.render_seconds[-1])
    result = {
        "vertices": int(vp.mesh.num_vertices), "viewport_px": [canvas.width(), canvas.height()],
        "backend": canvas.backend, "steps": steps, "orientations": orientations, "fit_seconds": round(elapsed, 2),
        "frames_during_fit": len(times), "viewport_fps_during_fit": round(len(times) / elapsed, 1),
        "viewport_frame_ms_median": _median_ms(seconds),
        "frame_interval_ms_median": _median_ms(list(np.diff(times))) if len(times) > 1 else None,
        "mesh_builds_during_fit": fit_uploads[0], "geometry_uploads_during_fit": fit_uploads[1],
        "skeleton_moved_m_max": round(max(moved), 3) if moved else 0.0,
        "orbit_frame_ms_median": _median_ms(orbit), "load_1min": round(os.getloadavg()[0], 2),
    }
    win.close()
    pump(timeout=0.2)
    del app
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", help="a project to fit a copy of (default: a new synthetic one)")
    parser.add_argument("--people", type=int, default=4, help="people in the synthetic project")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--orientations", type=int, default=4)
    parser.add_argument("--window", default="1280x800", help="main window size, WxH")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.window.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        if args.project:  # a copy: the fit must not add to someone's project
            shutil.copytree(args.project, project)
        else:
            make_project(project, args.people)
        print(json.dumps(measure(project, args.steps, args.orientations, width, height)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
