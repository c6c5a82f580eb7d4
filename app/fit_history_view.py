"""Fit history of the shown person: every fit kept (round, when, error, quality verdict, review decision),
which one is current, a button to make another current (one undo step) and one to compare a fit with the
current one over the image.

A decision belongs to one fit: a later round or re-fit adds a fit and leaves an accepted one current, so the
summary reads "accepted fit from round 2; newer fit from round 3 unreviewed" until the user chooses.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("fit", "round", "made", "error px", "quality", "review", "")


def history_summary(fits, current_id: int | None) -> str:
    """One line about a person's fits (FitRecords oldest first): the current fit's decision and round, and any
    newer fit that is not current, with its review state."""
    if not fits:
        return "no fit yet"
    current = next((f for f in fits if f.id == current_id), None)
    parts = []
    if current is not None:
        parts.append(f"{current.review_status} fit from round {current.round_index} is current")
    newer = [f for f in fits if current is not None and f.id > current.id]
    if newer:
        last = newer[-1]
        more = f" (+{len(newer) - 1} more)" if len(newer) > 1 else ""
        parts.append(f"newer fit from round {last.round_index} {last.review_status}{more}")
    return "; ".join(parts) + f" — {len(fits)} fit{'s' if len(fits) != 1 else ''} kept"


class FitHistoryView(QWidget):
    """Emits makeCurrent(pid, fit_id) and compare(fit or None) for the window to act on."""

    makeCurrent = Signal(int, int)
    compare = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.pid = -1
        self.fits: list = []
        self.current_id: int | None = None
        self.summary = QLabel("no person shown")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.make_current_button = QPushButton("Make current")
        self.make_current_button.setToolTip("Use the selected fit for this person: its review decision, export "
                                            "and regressor training follow it (Ctrl+Z undoes)")
        self.make_current_button.clicked.connect(self._make_current)
        self.compare_button = QPushButton("Compare with current")
        self.compare_button.setCheckable(True)
        self.compare_button.setToolTip("Draw the selected fit over the image as an orange wireframe beside the "
                                       "current one")
        self.compare_button.toggled.connect(lambda _: self._emit_compare())
        row = QHBoxLayout()
        row.addWidget(self.make_current_button)
        row.addWidget(self.compare_button)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        self._update_buttons()

    def set_person(self, project, pid: int) -> None:
        """Show person `pid`'s fits (-1 or no project: none)."""
        self.pid = pid
        record = None if project is None or pid < 0 else project.person(pid)
        self.fits = [] if record is None else project.fit_history(pid)
        self.current_id = None if record is None else record.current_fit_id
        self.summary.setText("no person shown" if record is None else history_summary(self.fits, self.current_id))
        self.table.blockSignals(True)  # refilling is no user choice: nothing to compare yet
        self.table.setRowCount(len(self.fits))
        for i, fit in enumerate(reversed(self.fits)):  # newest first
            quality = fit.metrics.get("quality") if isinstance(fit.metrics.get("quality"), str) else "—"
            error = fit.metrics.get("error")
            made = time.strftime("%Y-%m-%d %H:%M", time.localtime(fit.created_at)) if fit.created_at else "—"
            cells = (str(fit.id), str(fit.round_index), made,
                     f"{error:.3g}" if isinstance(error, (int, float)) else "—", quality,
                     fit.review_status if fit.status != "failed" else "failed", "current" if fit.id == self.current_id else "")
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.clearSelection()
        self.table.blockSignals(False)
        self.compare_button.setChecked(False)
        self._update_buttons()

    def selected_fit(self):
        rows = self.table.selectionModel().selectedRows()
        return list(reversed(self.fits))[rows[0].row()] if rows else None

    def select_fit(self, fit_id: int) -> bool:
        for i, fit in enumerate(reversed(self.fits)):
            if fit.id == fit_id:
                self.table.selectRow(i)
                return True
        return False

    def _selection_changed(self) -> None:
        self._update_buttons()
        self._emit_compare()

    def _update_buttons(self) -> None:
        fit = self.selected_fit()
        other = fit is not None and fit.id != self.current_id and fit.status != "failed"
        self.make_current_button.setEnabled(other)
        self.compare_button.setEnabled(other)

    def _make_current(self) -> None:
        fit = self.selected_fit()
        if fit is not None and fit.id != self.current_id:
            self.makeCurrent.emit(self.pid, fit.id)

    def _emit_compare(self) -> None:
        fit = self.selected_fit()
        on = self.compare_button.isChecked() and fit is not None and fit.id != self.current_id
        self.compare.emit(fit if on else None)
