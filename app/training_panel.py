"""The training dock: one click runs deform-and-learn rounds in a worker process (the same core command
the terminal runs) with the settings chosen here (preset, number of rounds, regressor architecture and input,
training set),
with per-stage progress bars and ETA, live loss curves, the project's own log, cancel and resume, and a chart
and a table of per-round metrics.

The worker prints JSON lines on stdout (core/commands/round.py: {"event": "progress", "round", "stage", "step",
"total", "losses", "eta_s"}, {"event": "round_done", "metrics"}, {"event": "cancelled", "message"}); anything
else goes to the log pane. Cancel sends SIGTERM (the round stops after its last consistent write) and kills
the process if it has not stopped after `KILL_AFTER_MS`; either way the window and the project stay intact
and --resume continues the round.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from deformlearn.app.charts import LegendPlot, RoundMetricsTable, flatten_metrics, round_error_series
from deformlearn.app.errors import show_error

KILL_AFTER_MS = 10000
#: The round command's presets and regressor inputs ("preset" = the preset's own choice).
PRESET_CHOICES = ("cpu-demo", "paper")
INPUT_CHOICES = ("preset", "rgb", "iuv", "rgb+iuv")
#: The regressor architectures ("preset" = the preset's: pointset for cpu-demo, the ResNet50 convnet for paper).
ARCHITECTURE_CHOICES = ("preset", "pointset", "partwise", "convnet", "nbf", "decomr")
#: The project's training log (every line the panel shows), relative to the project folder.
LOG_FILE = Path("logs") / "training.log"
LOG_TAIL_LINES = 400


@dataclass(frozen=True)
class RoundOptions:
    """What the panel runs: preset ("cpu-demo" or "paper"), rounds (>= 1), regressor input ("preset" or one of
    rgb / iuv / rgb+iuv: the convnet's crop, so it implies the convnet), only_accepted (train the regressor on
    accepted fits only), architecture ("preset" or one of the regressor architectures)."""

    preset: str = "cpu-demo"
    rounds: int = 1
    regressor_input: str = "preset"
    only_accepted: bool = False
    architecture: str = "preset"

    def __post_init__(self) -> None:
        if self.regressor_input != "preset" and self.architecture not in ("preset", "convnet"):
            raise ValueError(f"the regressor input {self.regressor_input!r} is the convnet's crop; the "
                             f"{self.architecture} architecture reads the points")

    def arguments(self) -> list[str]:
        out = ["--preset", self.preset, "--rounds", str(self.rounds)]
        if self.architecture != "preset":
            out += ["--architecture", self.architecture]
        if self.regressor_input != "preset":
            out += ["--input", self.regressor_input]
        return out + (["--only-accepted"] if self.only_accepted else [])


def round_command(project_root: str, resume: bool = False, options: RoundOptions | None = None) -> list[str]:
    """argv (without the interpreter) of the worker: `python -m deformlearn.core.cli round ...`."""
    return (["-m", "deformlearn.core.cli", "round", str(project_root), "--progress-json"]
            + (options or RoundOptions()).arguments() + (["--resume"] if resume else []))


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
        self.loss_plot = LegendPlot("losses of the running round", "progress event", "loss (log scale)",
                                   "no losses yet")
        self.loss_plot.plot.setLogMode(y=True)
        self._history: dict[str, list[tuple[int, float]]] = {}
        self._tick = 0
        self.metrics_plot = LegendPlot("error per round", "round", "error (mm or px)", "no finished round yet")
        self.metrics_table = RoundMetricsTable()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self._log_file: Path | None = None
        metrics = QSplitter(Qt.Orientation.Horizontal)
        metrics.addWidget(self.metrics_plot)
        metrics.addWidget(self.metrics_table)
        plots = QSplitter(Qt.Orientation.Vertical)
        for w in (self.loss_plot, metrics, self.log):
            plots.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addLayout(self._options_row())
        lay.addLayout(buttons)
        lay.addWidget(self.state)
        lay.addLayout(self.stage_grid)
        lay.addWidget(plots, 1)

    def _options_row(self) -> QVBoxLayout:
        self.preset = QComboBox()
        self.preset.addItems(PRESET_CHOICES)
        self.preset.setToolTip("cpu-demo: small networks and few epochs, minutes on a CPU; paper: the paper's "
                               "hyperparameters (ResNet50, 30 regressor epochs, 50 cGAN epochs), for a GPU")
        self.rounds = QSpinBox()
        self.rounds.setRange(1, 20)
        self.rounds.setToolTip("How many deform-and-learn rounds to run one after another")
        self.architecture = QComboBox()
        self.architecture.addItems(ARCHITECTURE_CHOICES)
        self.architecture.setToolTip(
            "The regressor's architecture (benchmarks/learning.py compares them). preset: cpu-demo's point-set "
            "encoder, the paper's ResNet50 convnet.\npointset: an encoder over the annotated points and "
            "keypoints, no image (the best and the cheapest measured on synthetic people).\npartwise: the "
            "point-set encoder, each joint's rotation corrected from the points of the two parts it "
            "connects.\nconvnet: the "
            "paper's ConvNet on the RGB / IUV crop.\nnbf: a ConvNet on the part segmentation (Neural Body "
            "Fitting).\ndecomr: a ConvNet on the points' UV location map (DecoMR).")
        self.architecture.currentTextChanged.connect(self._architecture_changed)
        self.regressor_input = QComboBox()
        self.regressor_input.addItems(INPUT_CHOICES)
        self.regressor_input.setToolTip("What the convnet regressor reads: the image crop (rgb), the DensePose "
                                        "IUV crop, both, or the preset's choice (a crop implies the convnet)")
        self.only_accepted = QCheckBox("accepted fits only")
        self.only_accepted.setToolTip("Train the regressor only on fits a reviewer accepted (default: every "
                                      "fit that is not rejected)")
        rows = QVBoxLayout()  # two short rows: one row of all five was the Work dock's minimum width (654 px)
        for pairs, extra in (((("preset", self.preset), ("rounds", self.rounds)), self.only_accepted),
                             ((("regressor", self.architecture), ("input", self.regressor_input)), None)):
            row = QHBoxLayout()
            for label, w in pairs:
                row.addWidget(QLabel(label))
                row.addWidget(w)
            if extra is not None:
                row.addWidget(extra)
            row.addStretch(1)
            rows.addLayout(row)
        return rows

    def _architecture_changed(self, architecture: str) -> None:
        """A crop input means the convnet: other architectures leave it at the preset's and disable it."""
        crop = architecture in ("preset", "convnet")
        if not crop:
            self.regressor_input.setCurrentText("preset")
        self.regressor_input.setEnabled(crop)

    def options(self) -> RoundOptions:
        return RoundOptions(self.preset.currentText(), self.rounds.value(), self.regressor_input.currentText(),
                            self.only_accepted.isChecked(), self.architecture.currentText())

    def set_project(self, project) -> None:
        """Show `project`'s rounds and its own training log (the previous project's log is not carried over)."""
        self.project_root = None if project is None else str(project.root)
        self.log.clear()
        self._log_file = None if project is None else Path(project.root) / LOG_FILE
        if self._log_file is not None and self._log_file.is_file():
            lines = self._log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
            self.log.setPlainText("\n".join(lines))
        self.show_round_metrics(project)

    def append_log(self, text: str) -> None:
        """Show a line in the log pane and append it to the project's training log."""
        self.log.appendPlainText(text)
        if self._log_file is not None:
            try:
                self._log_file.parent.mkdir(parents=True, exist_ok=True)
                with open(self._log_file, "a", encoding="utf-8") as f:
                    f.write(text + "\n")
            except OSError as exc:  # a read-only project still trains; the pane says why the file is not kept
                self.log.appendPlainText(f"(the log is not saved: {exc})")
                self._log_file = None

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
        args = round_command(self.project_root, resume, self.options())
        self.append_log(f"$ {sys.executable} {' '.join(args)}")
        proc.start(sys.executable, args)
        self.run_button.setEnabled(False)
        self.resume_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.state.setText("running…")

    def cancel(self) -> None:
        if self.is_running():
            self.append_log("cancelling: asking the worker to stop")
            self.process.terminate()
            killer = QTimer(self.process, singleShot=True, interval=KILL_AFTER_MS)  # dies with the process
            killer.timeout.connect(self.process.kill)
            killer.start()

    def _reset_view(self) -> None:
        for bar, label in self.stages.values():
            bar.deleteLater()
            label.deleteLater()
        self.stages.clear()
        self.loss_plot.clear_series()
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
            self.append_log(text)
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
            self.append_log(line)
            return
        kind = event.get("event", "progress")
        if kind == "progress":
            self._show_event(event)
        elif kind == "round_done":
            shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(flatten_metrics(event.get("metrics") or {}).items()))
            self.append_log(f"round {event.get('round')} done: {shown}")
        else:
            self.append_log(f"{kind}: {event.get('message', '')}")
        self.eventReceived.emit(event)

    def _show_event(self, event: dict) -> None:
        stage = str(event["stage"])
        if stage not in self.stages:
            for done, _ in self.stages.values():  # stages run in turn: the earlier ones are over (or skipped)
                done.setMaximum(max(done.maximum(), 1))
                done.setValue(done.maximum())
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
            xy = np.array(self._history[key])
            self.loss_plot.set_series(key, xy[:, 0], xy[:, 1])
        if "message" in event:
            self.append_log(f"[{stage}] {event['message']}")

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
        self.append_log(self.state.text())
        self.run_button.setEnabled(True)
        self.resume_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.roundFinished.emit(-1 if crashed else code)

    def _error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.append_log(f"could not start the worker: {self.process.errorString()}")

    # ---- metrics per round -------------------------------------------------------------------------------
    def show_round_metrics(self, project) -> None:
        """Chart and tabulate the error metrics (charts.METRIC_TAGS) of every round of `project` (x = round)."""
        self.metrics_plot.clear_series()
        series = {} if project is None else round_error_series(project.rounds())
        for name, pts in sorted(series.items()):
            xy = np.array(pts, float)
            self.metrics_plot.set_series(name, xy[:, 0], xy[:, 1], markers=True)
        self.metrics_table.show_series(series)
        self.metrics_table.setVisible(bool(series))
