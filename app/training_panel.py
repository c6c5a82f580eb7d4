"""The training dock: one click runs a deform-and-learn round in a worker process (the same core command
the terminal runs), with per-stage progress bars and ETA, live loss curves, a log, cancel and resume, and a
chart of per-round metrics.

The worker prints JSON lines on stdout (core/commands/round.py: {"event": "progress", "round", "stage", "step",
"total", "losses", "eta_s"}, {"event": "round_done", "metrics"}, {"event": "cancelled", "message"}); anything
else goes to the log pane. Cancel sends SIGTERM (the round stops after its last consistent write) and kills
the process if it has not stopped after `KILL_AFTER_MS`; either way the window and the project stay intact
and --resume continues the round.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from deformlearn.app.errors import show_error

KILL_AFTER_MS = 10000
#: Round metrics worth a curve (errors in mm / px); counts, timings and settings are left out.
METRIC_TAGS = ("mpjpe", "_px", "error")
PALETTE = [(80, 200, 255), (255, 200, 40), (120, 220, 120), (230, 120, 230), (255, 120, 80), (200, 200, 200)]


def round_command(project_root: str, resume: bool = False) -> list[str]:
    """argv (without the interpreter) of the worker: `python -m deformlearn.core.cli round ...`."""
    return ["-m", "deformlearn.core.cli", "round", str(project_root), "--progress-json"] + (["--resume"] if resume else [])


def _fmt_eta(seconds) -> str:
    if seconds is None or not np.isfinite(seconds):
        return ""
    seconds = int(seconds)
    return f"ETA {seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"ETA {seconds} s"


class TrainingPanel(QWidget):
    """Runs rounds for the project at `project_root`; emits `roundFinished(exit_code)` when the process ends."""

    roundFinished = Signal(int)
    eventReceived = Signal(dict)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.project_root: str | None = None
        self.process: QProcess | None = None
        self._buffer = b""
        self._stderr_tail = ""
        self.run_button = QPushButton("Run round")
        self.run_button.setObjectName("run_round")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.run_button.clicked.connect(lambda: self.start(resume=False))
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.cancel_button.clicked.connect(self.cancel)
        buttons = QHBoxLayout()
        for b in (self.run_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        self.state = QLabel("idle")
        self.stage_grid = QGridLayout()
        self.stages: dict[str, tuple[QProgressBar, QLabel]] = {}
        self.loss_plot = pg.PlotWidget(title="round losses")
        self.loss_plot.addLegend(offset=(5, 5))
        self.loss_plot.setLogMode(y=True)
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._history: dict[str, list[tuple[int, float]]] = {}
        self._tick = 0
        self.metrics_plot = pg.PlotWidget(title="metrics per round")
        self.metrics_plot.addLegend(offset=(5, 5))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        plots = QSplitter(Qt.Orientation.Vertical)
        for w in (self.loss_plot, self.metrics_plot, self.log):
            plots.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addLayout(buttons)
        lay.addWidget(self.state)
        lay.addLayout(self.stage_grid)
        lay.addWidget(plots, 1)

    def set_project(self, project) -> None:
        self.project_root = None if project is None else str(project.root)
        self.show_round_metrics(project)

    def is_running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    # ---- process -----------------------------------------------------------------------------------------
    def start(self, resume: bool = False) -> None:
        if self.project_root is None:
            raise RuntimeError("Open a project before running a round.")
        if self.is_running():
            raise RuntimeError("A round is already running; cancel it first.")
        self._reset_view()
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self.process = proc
        args = round_command(self.project_root, resume)
        self.log.appendPlainText(f"$ {sys.executable} {' '.join(args)}")
        proc.start(sys.executable, args)
        self.run_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.state.setText("running…")

    def cancel(self) -> None:
        if self.is_running():
            self.log.appendPlainText("cancelling: asking the worker to stop")
            self.process.terminate()
            killer = QTimer(self.process, singleShot=True, interval=KILL_AFTER_MS)  # dies with the process
            killer.timeout.connect(self.process.kill)
            killer.start()

    def _reset_view(self) -> None:
        for bar, label in self.stages.values():
            bar.deleteLater()
            label.deleteLater()
        self.stages.clear()
        for c in self._curves.values():
            self.loss_plot.removeItem(c)
        self._curves.clear()
        self._history.clear()
        self._tick = 0
        self._buffer = b""
        self._stderr_tail = ""

    def _read_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self.handle_line(raw.decode("utf-8", "replace").strip())

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode("utf-8", "replace").rstrip()
        if text:
            self.log.appendPlainText(text)
            self._stderr_tail = (self._stderr_tail + "\n" + text)[-1500:]

    def handle_line(self, line: str) -> None:
        """One stdout line: a JSON progress event updates bars and curves, anything else goes to the log."""
        if not line:
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or ("stage" not in event and "event" not in event):
            self.log.appendPlainText(line)
            return
        kind = event.get("event", "progress")
        if kind == "progress":
            self._show_event(event)
        elif kind == "round_done":
            shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(_flatten(event.get("metrics") or {}).items()))
            self.log.appendPlainText(f"round {event.get('round')} done: {shown}")
        else:
            self.log.appendPlainText(f"{kind}: {event.get('message', '')}")
        self.eventReceived.emit(event)

    def _show_event(self, event: dict) -> None:
        stage = str(event["stage"])
        if stage not in self.stages:
            bar, label = QProgressBar(), QLabel()
            row = len(self.stages)
            self.stage_grid.addWidget(QLabel(stage), row, 0)
            self.stage_grid.addWidget(bar, row, 1)
            self.stage_grid.addWidget(label, row, 2)
            self.stages[stage] = (bar, label)
        bar, label = self.stages[stage]
        total, step = event.get("total"), event.get("step")
        if isinstance(total, (int, float)) and total > 0 and isinstance(step, (int, float)):
            bar.setMaximum(int(total))
            bar.setValue(int(step))
        label.setText(_fmt_eta(event.get("eta_s", event.get("eta"))))
        self._tick += 1
        for name, value in (event.get("losses") or {}).items():
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                continue
            key = f"{stage}/{name}"
            self._history.setdefault(key, []).append((self._tick, float(value)))
            if key not in self._curves:
                pen = pg.mkPen(PALETTE[len(self._curves) % len(PALETTE)], width=2)
                self._curves[key] = self.loss_plot.plot(pen=pen, name=key)
            xy = np.array(self._history[key])
            self._curves[key].setData(xy[:, 0], xy[:, 1])
        if "message" in event:
            self.log.appendPlainText(f"[{stage}] {event['message']}")

    def _finished(self, code: int, status) -> None:
        crashed = status == QProcess.ExitStatus.CrashExit
        if crashed or code == 130:
            self.state.setText("cancelled: Resume continues the round")
        else:
            self.state.setText("round finished" if code == 0 else f"round stopped with exit code {code} (see the log)")
            if code != 0:
                lines = [ln for ln in self._stderr_tail.splitlines() if "error" in ln.lower()]
                show_error(self, "The round stopped", (lines[-1] if lines else self._stderr_tail.strip()[-400:])
                           or f"exit code {code}", "The project keeps everything finished so far. If the round was "
                           "interrupted, press Resume; otherwise see the log pane.")
        self.log.appendPlainText(self.state.text())
        self.run_button.setEnabled(True)
        self.resume_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.roundFinished.emit(-1 if crashed else code)

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.log.appendPlainText(f"could not start the worker: {self.process.errorString()}")

    # ---- metrics per round -------------------------------------------------------------------------------
    def show_round_metrics(self, project) -> None:
        """Plot the error metrics (METRIC_TAGS) of every round of `project` (x = round index)."""
        self.metrics_plot.clear()
        if project is None:
            return
        series: dict[str, list[tuple[int, float]]] = {}
        for rnd in project.rounds():
            for name, value in _flatten(rnd.metrics).items():
                if not any(tag in name for tag in METRIC_TAGS) or name.startswith("settings"):
                    continue
                series.setdefault(name, []).append((rnd.index, value))
        for i, (name, pts) in enumerate(sorted(series.items())):
            xy = np.array(pts, float)
            self.metrics_plot.plot(xy[:, 0], xy[:, 1], pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2),
                                   symbol="o", name=name)


def _flatten(metrics: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
            out[f"{prefix}{k}"] = float(v)
    return out
