"""The registration dock: settings, fit selected / all / unfitted, cancel, progress and a live loss plot (one
colour per loss term, labelled axes, its legend in a column beside the data: app/charts.py)."""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from deformlearn.app.charts import LegendPlot
from deformlearn.app.settings import RegistrationDefaults, resolve_device
from deformlearn.core.registration import PipelineProgress, RegistrationSettings

PLOT_HZ = 8
_START = ("A person with a good current fit (not rejected) is refined from it; anyone else is fitted from "
          "the T-pose with the settings above.")
#: What each Fit button does (its tooltip); all three start the same way ("auto"), as Edit ▸ Re-fit (Ctrl+F).
FIT_TOOLTIPS = {
    "selected": "Fit the selected people (or the one shown). " + _START + " Ctrl+F does the same for the shown person.",
    "unfitted": "Fit the people that have no fit yet, from the T-pose.",
    "all": "Fit every person of the project. " + _START,
}


class RegistrationPanel(QWidget):
    """Emits `fitRequested(scope)` with scope "selected", "all" or "unfitted", and `cancelRequested`."""

    fitRequested = Signal(str)
    cancelRequested = Signal()

    def __init__(self, defaults: RegistrationDefaults, parent=None) -> None:
        super().__init__(parent)
        self.steps = QSpinBox()
        self.steps.setRange(1, 100000)
        self.lr = self._spin(1e-5, 10.0, 4)
        self.w_dense = self._spin(0.0, 1e7, 3)
        self.w_kp = self._spin(0.0, 1e7, 3)
        self.w_scale = self._spin(0.0, 1e7, 3)
        self.w_joint = self._spin(0.0, 1e7, 4)
        self.w_det = self._spin(0.0, 1e7, 3)
        self.orientations = QSpinBox()
        self.orientations.setRange(1, 16)
        self.orientations.setValue(4)
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])  # auto: CUDA when torch sees a GPU, else the CPU
        self.set_defaults(defaults)
        form = QFormLayout()
        for label, w in (("steps", self.steps), ("learning rate", self.lr), ("w dense", self.w_dense),
                         ("w keypoints", self.w_kp), ("w scale", self.w_scale), ("w joint", self.w_joint),
                         ("w det", self.w_det), ("orientations", self.orientations), ("device", self.device)):
            form.addRow(label, w)
        self.buttons = {}
        row = QHBoxLayout()
        for scope, text in (("selected", "Fit selected"), ("unfitted", "Fit unfitted"), ("all", "Fit all")):
            b = QPushButton(text)
            b.setObjectName(f"fit_{scope}")
            b.setToolTip(FIT_TOOLTIPS[scope])
            b.clicked.connect(lambda _=False, s=scope: self.fitRequested.emit(s))
            row.addWidget(b)
            self.buttons[scope] = b
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancelRequested)
        row.addWidget(self.cancel_button)
        self.bar = QProgressBar()
        self.status = QLabel("idle")
        self.plot = LegendPlot("loss (chunk mean)", "optimiser step (all chunks)",
                               "weighted loss (log scale)", "no losses yet")
        self.plot.plot.setLogMode(y=True)
        self.plot.setMinimumHeight(160)
        self._history: dict[str, list[float]] = {}
        self._steps: list[int] = []
        self._plot_timer = QTimer(self, singleShot=True, interval=1000 // PLOT_HZ)
        self._plot_timer.timeout.connect(self._redraw_curves)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addWidget(self.plot, 1)

    @staticmethod
    def _spin(lo: float, hi: float, decimals: int) -> QDoubleSpinBox:
        s = QDoubleSpinBox()
        s.setRange(lo, hi)
        s.setDecimals(decimals)
        return s

    def set_defaults(self, d: RegistrationDefaults) -> None:
        self.steps.setValue(d.steps)
        self.lr.setValue(d.lr)
        self.w_dense.setValue(d.w_dense)
        self.w_kp.setValue(d.w_kp)
        self.w_scale.setValue(d.w_scale)
        self.w_joint.setValue(d.w_joint)
        self.w_det.setValue(d.w_det)

    def defaults(self) -> RegistrationDefaults:
        return RegistrationDefaults(self.steps.value(), self.lr.value(), self.w_dense.value(), self.w_kp.value(),
                                    self.w_scale.value(), self.w_joint.value(), self.w_det.value())

    def settings(self) -> RegistrationSettings:
        """The core settings the panel shows. Progress every 10 steps (the fit process passes at most
        registration_worker.PROGRESS_HZ of them a second on): a single fit runs about 330 steps a second on
        this CPU, and every report skins the whole mesh, sent or not. Measured on one synthetic person (idle
        2-core CPU, fit process CPU seconds, medians of 8): no reports 0.725-0.736 s, every 5 steps 0.813 s
        (22-26 events sent), every 10 steps 0.751 s (21-25 sent). On the CPU the fit leaves one core to the
        window (it renders the live frames)."""
        device = resolve_device(self.device.currentText())
        threads = max(1, (os.cpu_count() or 2) - 1) if device == "cpu" else 0
        return RegistrationSettings(
            w_dense=self.w_dense.value(), w_KP=self.w_kp.value(), w_scale=self.w_scale.value(),
            w_joint=self.w_joint.value(), w_det=self.w_det.value(), steps=self.steps.value(), lr=self.lr.value(),
            num_orientations=self.orientations.value(), device=device, progress_every=10,
            num_threads=threads,
        )

    # ---- run state ---------------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        for b in self.buttons.values():
            b.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self._history.clear()
            self._steps.clear()
            self.plot.clear_series()
            self.bar.setValue(0)
            self.status.setText("starting…")

    def on_progress(self, event: PipelineProgress) -> None:
        done = event.chunk * event.total + event.step
        self.bar.setMaximum(event.chunks * event.total)
        self.bar.setValue(done)
        self.status.setText(f"chunk {event.chunk + 1}/{event.chunks}, step {event.step}/{event.total}, "
                            f"loss {event.losses.get('total', float('nan')):.4g}")
        self._steps.append(done)
        for name, value in event.losses.items():
            self._history.setdefault(name, []).append(max(value, 1e-12))
        if not self._plot_timer.isActive():  # curves redraw at most PLOT_HZ times a second
            self._plot_timer.start()

    def _redraw_curves(self) -> None:
        for name, ys in self._history.items():
            self.plot.set_series(name, np.array(self._steps[-len(ys):], float), np.array(ys))

    def on_finished(self, summary: dict) -> None:
        self._plot_timer.stop()
        self._redraw_curves()
        self.set_running(False)
        skipped = len(summary.get("skipped", []))
        what = "cancelled" if summary.get("cancelled") else "done"
        self.status.setText(f"{what}: {summary.get('fitted', 0)} fitted, {summary.get('failed', 0)} failed"
                            + (f", {skipped} without dense points skipped" if skipped else "")
                            + f" in {summary.get('seconds', 0):.1f} s")
