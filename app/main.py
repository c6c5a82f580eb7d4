"""Entry point of the desktop app: `deformlearn` / `deformlearn app [PROJECT]` (and `--headless`)."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import threading
import time
from pathlib import Path

_STARTED = time.perf_counter()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The app's options, for `deformlearn app` and `python -m deformlearn.app.main` alike."""
    parser.add_argument("project", nargs="?", help="project folder to open (default: ask, offering the demo)")
    parser.add_argument("--project", dest="project_option", metavar="PROJECT",
                        help="the same as the positional PROJECT (as `deformlearn screenshots` takes it)")
    parser.add_argument("--demo", action="store_true", help="open the built-in demo project (made on first use)")
    parser.add_argument("--headless", action="store_true",
                        help="no window: run one full deform-and-learn round on the demo project (or PROJECT) "
                             "in the terminal")
    parser.add_argument("--startup-time", action="store_true",
                        help="print the seconds to the first shown window as JSON and quit (a measurement)")


def project_argument(args: argparse.Namespace) -> str | None:
    """The project folder asked for, positional or --project; ValueError when the two name different ones."""
    positional, option = args.project, getattr(args, "project_option", None)
    if positional and option and Path(positional).resolve() != Path(option).resolve():
        raise ValueError(f"two projects given: {positional} and --project {option}; give one")
    return positional or option


def run_headless(project: str | None) -> int:
    """One deform-and-learn round on `project` (default: the demo project, made first) through the core CLI."""
    from deformlearn.app.demo_project import demo_exists, demo_project_dir
    from deformlearn.core import cli

    target = Path(project) if project else demo_project_dir()
    if project is None and not demo_exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"making the demo project in {target}", file=sys.stderr)
        code = cli.main(["synth", "--n", "48", "--out", str(target)])
        if code:
            return code
    return cli.main(["round", str(target), "--resume"])  # finishes an interrupted demo round first


def _warm_up() -> None:
    """Import the engine in the background while the user looks at the window (torch takes seconds)."""
    # pyrender is left to the render thread: OpenGL set-up from two threads at once is not safe.
    for name in ("deformlearn.app.scene_loader", "deformlearn.app.registration_worker"):
        try:
            importlib.import_module(name)
        except Exception:  # the foreground import reports the same problem as a dialog when it matters
            return


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deformlearn app", description="Deform & Learn Studio")
    add_arguments(parser)
    return parser.parse_args(sys.argv[1:] if argv is None else argv)


def launch(args: argparse.Namespace):
    """Make and show the window, then (after its first paint) open the project `args` asks for, the most
    recent one, or offer the demo. Returns the MainWindow; the caller runs the event loop. ValueError when
    `args` name two different projects."""
    project = project_argument(args)
    from deformlearn.app.qt_env import ensure_application

    ensure_application()
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QMessageBox

    from deformlearn.app import menus
    from deformlearn.app.errors import install_excepthook
    from deformlearn.app.main_window import MainWindow

    install_excepthook()
    win = MainWindow()
    win.show()
    threading.Thread(target=_warm_up, daemon=True).start()
    if args.startup_time:
        def report() -> None:
            print(json.dumps({"first_window_s_since_app_import": round(time.perf_counter() - _STARTED, 3),
                              "shown_at_unix": time.time()}))
            win.close()
        QTimer.singleShot(0, report)
        return win

    def first_project() -> None:  # after the first paint, so the window shows before the engine loads
        if project:
            win.guarded("Open project", win.open_project, project)
            return
        if args.demo:
            win.guarded("Open demo project", menus.open_demo, win)
            return
        recent = [p for p in win.settings.recent_projects if Path(p).is_dir()]
        if recent:
            win.guarded("Open project", win.open_project, recent[0])
        if win.project is None:
            answer = QMessageBox.question(win, "Welcome", "No project is open. Open the built-in demo project "
                                          "(synthetic people, made on first use)?")
            if answer == QMessageBox.StandardButton.Yes:
                win.guarded("Open demo project", menus.open_demo, win)

    QTimer.singleShot(50, first_project)
    return win


def main(argv: list[str] | None = None, args: argparse.Namespace | None = None) -> int:
    """Start the app (or the headless round). Returns the process exit code."""
    args = parse_args(argv) if args is None else args
    try:
        project = project_argument(args)  # checked before any window shows
    except ValueError as exc:
        print(f"deformlearn app: error: {exc}", file=sys.stderr)
        return 2
    if args.headless:
        return run_headless(project)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    win = launch(args)
    from PySide6.QtWidgets import QApplication

    code = QApplication.instance().exec()
    del win
    worker = sys.modules.get("deformlearn.app.registration_worker")
    if worker is not None:  # imported with the engine; never load torch only to quit
        worker.stop_fit_process()
    return code


if __name__ == "__main__":
    sys.exit(main())
