"""The people dock: a lazily loaded table with review and fit-status filters, error threshold and name search."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from deformlearn.app.people_model import THUMB_PX, PeopleFilter, PeopleTableModel
from deformlearn.core.project import FIT_FILTERS

STATUS_CHOICES = ("all", "unreviewed", "accepted", "rejected")
FIT_CHOICES = ("all", *FIT_FILTERS)


class PeoplePanel(QWidget):
    """Emits `personSelected(pid)` when the current row changes (-1 when nothing is selected)."""

    personSelected = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = PeopleTableModel(self)
        self._keep_pid = -1
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMB_PX + 4)
        self.table.setIconSize(QSize(3 * THUMB_PX, THUMB_PX))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        self.model.modelReset.connect(self._after_reset)

        self.status = QComboBox()
        self.status.addItems(STATUS_CHOICES)
        self.status.currentTextChanged.connect(self._apply_filter)
        self.fit_status = QComboBox()
        self.fit_status.addItems(FIT_CHOICES)
        self.fit_status.setToolTip("Status of each person's latest fit")
        self.fit_status.currentTextChanged.connect(self._apply_filter)
        self.use_threshold = QCheckBox("error ≤")
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1e6)
        self.threshold.setDecimals(2)
        self.threshold.setValue(10.0)
        self.use_threshold.toggled.connect(self._apply_filter)
        self.threshold.valueChanged.connect(lambda _: self.use_threshold.isChecked() and self._apply_filter())
        self.search = QLineEdit()
        self.search.setPlaceholderText("search name or image…")
        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self._apply_filter)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.count_label = QLabel("")

        row = QHBoxLayout()
        row.addWidget(QLabel("review"))
        row.addWidget(self.status)
        row.addWidget(QLabel("fit"))
        row.addWidget(self.fit_status)
        row.addWidget(self.use_threshold)
        row.addWidget(self.threshold)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(row)
        lay.addWidget(self.search)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count_label)

    def set_project(self, project) -> None:
        self.model.set_project(project)

    def _apply_filter(self) -> None:
        status, fit_status = self.status.currentText(), self.fit_status.currentText()
        self.model.set_filter(PeopleFilter(
            status=None if status == "all" else status, fit_status=None if fit_status == "all" else fit_status,
            max_error=self.threshold.value() if self.use_threshold.isChecked() else None,
            search=self.search.text().strip(),
        ))

    def _after_reset(self) -> None:
        project = self.model.project
        if project is None:
            self.count_label.setText("no project")
            return
        for column, width in enumerate((44, 150, 62, 82, 76, 50, 64)):
            self.table.setColumnWidth(column, width)
        total = project.count_persons()
        self.count_label.setText(f"{total:,} people in the project")
        keep, self._keep_pid = self._keep_pid, -1
        if keep >= 0 and self.model.row_of(keep) >= 0:
            self.select_person(keep)
        elif self.model.rowCount():
            self.select_row(0)
        else:
            self.personSelected.emit(-1)

    def reload(self) -> None:
        """Re-read the list from the project, keeping the current person selected when still listed."""
        self._keep_pid = self.current_person()
        self.model.refresh()

    def _current_changed(self, current, _previous) -> None:
        self.personSelected.emit(self.model.person_id(current.row()) if current.isValid() else -1)

    # ---- navigation (review keys) ------------------------------------------------------------------------
    def current_row(self) -> int:
        idx = self.table.currentIndex()
        return idx.row() if idx.isValid() else -1

    def current_person(self) -> int:
        row = self.current_row()
        return self.model.person_id(row) if row >= 0 else -1

    def select_row(self, row: int) -> bool:
        if row < 0 or not self.model.ensure_loaded(row):
            return False
        idx = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(idx)
        return True

    def select_person(self, pid: int) -> bool:
        row = self.model.row_of(pid)
        return self.select_row(row) if row >= 0 else False

    def move(self, step: int) -> bool:
        """Select the row `step` rows away (J/K, arrows); False at either end."""
        return self.select_row(max(self.current_row(), 0) + step if self.current_row() >= 0 else 0)

    def selected_people(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.person_id(r) for r in rows]
