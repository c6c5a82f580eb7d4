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
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from deformlearn.app.gallery import GalleryView
from deformlearn.app.people_model import PAGE_SIZE, THUMB_PX, PeopleFilter, PeopleTableModel, column_of

STATUS_CHOICES = ("all", "unreviewed", "accepted", "rejected")
#: The fit filter: the current fit's status, then (after a separator) its quality verdict.
FIT_CHOICES = ("all", "unfitted", "fitted", "failed")
QUALITY_CHOICES = ("good", "poor", "degenerate")
FILTER_TIPS = {
    "unfitted": "people without a fit", "fitted": "people whose current fit ran (converged or not)",
    "failed": "people whose current fit failed", "good": "current fit judged good",
    "poor": "current fit judged poor: off (large residual) or an implausible pose",
    "degenerate": "current fit means nothing: too few or clumped points, collapsed scale, diverged",
}
#: Width (px) of each column of the table, in app/people_model.py COLUMNS order: id, name (its 48 px crop and
#: the name's end: "…im.jpg · 3 of 12"), then error, quality, review and fit as wide as their longest words
#: and the cell's margins ("degenerate", "unreviewed", "converged"); points and keypoints lie past the dock's
#: default width.
COLUMN_WIDTHS = (30, 140, 52, 78, 80, 72, 50, 64)
#: The people dock's default width: every column up to "fit" shows without scrolling (with the scroll bar).
PEOPLE_DOCK_PX = sum(COLUMN_WIDTHS[:6]) + 24
#: After a sort or filter, the current person is looked for in at most this many rows (pages are fetched).
KEEP_SEARCH_ROWS = 4 * PAGE_SIZE


class NameDelegate(QStyledItemDelegate):
    """Names cut at their start ("…im.jpg · 3 of 12"): the end says which person of the image it is."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft


def fit_filter_combo() -> QComboBox:
    """The fit filter: all / the current fit's status / (separator) its quality verdict, each with a tooltip."""
    combo = QComboBox()
    combo.addItems(FIT_CHOICES)
    combo.insertSeparator(len(FIT_CHOICES))
    combo.addItems(QUALITY_CHOICES)
    for i in range(combo.count()):
        tip = FILTER_TIPS.get(combo.itemText(i))
        if tip:
            combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
    combo.setToolTip("Show people by their current fit: its status, or its quality verdict")
    return combo


class PeoplePanel(QWidget):
    """Emits `personSelected(pid)` when the current row changes (-1 when nothing is selected). `gallery` is the
    same list as a grid of crops, for the window to place."""

    personSelected = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = PeopleTableModel(self)
        self._keep_pid = -1
        self._switching_project = False
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setItemDelegateForColumn(column_of("name"), NameDelegate(self.table))
        self.table.verticalHeader().setDefaultSectionSize(THUMB_PX + 4)
        self.table.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().currentRowChanged.connect(self._current_changed)
        # The gallery shares model and selection; it is made before the reset handlers below are connected,
        # because a view's own reset clears the shared selection and must run before `_after_reset` restores it.
        self.gallery = GalleryView(self.model, self.table.selectionModel())
        self.model.modelAboutToBeReset.connect(self._before_reset)
        self.model.modelReset.connect(self._after_reset)
        self.model.rowsInserted.connect(lambda *_: self.update_count())
        filters, search = self._make_filters()
        self.count_label = QLabel("")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(filters)
        lay.addLayout(search)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.count_label)

    def _make_filters(self) -> tuple[QHBoxLayout, QHBoxLayout]:
        """The filter widgets, in two short rows so the dock can be narrow: review status and fit / quality;
        the error threshold and the search box (searched 250 ms after the last key)."""
        self.status = QComboBox()
        self.status.addItems(STATUS_CHOICES)
        self.status.currentTextChanged.connect(self._apply_filter)
        self.fit_status = fit_filter_combo()
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
        filters = QHBoxLayout()
        for widget in (QLabel("review"), self.status, QLabel("fit / quality"), self.fit_status):
            filters.addWidget(widget)
        search = QHBoxLayout()
        for widget in (self.use_threshold, self.threshold):
            search.addWidget(widget)
        search.addWidget(self.search, 1)
        return filters, search

    def set_project(self, project) -> None:
        self._switching_project = True
        try:
            self.model.set_project(project)
        finally:
            self._switching_project = False

    def _before_reset(self) -> None:
        """A sort, filter or reload keeps the current person selected (when the new list still holds it)."""
        if not self._switching_project and self._keep_pid < 0:
            self._keep_pid = self.current_person()

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
        for column, width in enumerate(COLUMN_WIDTHS):
            self.table.setColumnWidth(column, width)
        self.update_count()
        keep, self._keep_pid = self._keep_pid, -1
        if keep >= 0 and self._find_row(keep) >= 0:
            self.select_person(keep)
        elif self.model.rowCount():
            self.select_row(0)
        else:
            self.personSelected.emit(-1)

    def update_count(self) -> None:
        """Footer: "48 people", or "10 of 48 people" when a filter hides some ("at least 256 of ..." while the
        filtered list is still being paged in)."""
        project = self.model.project
        if project is None:
            return
        total = project.count_persons()
        shown, exact = self.model.shown_count()
        if exact and shown == total:
            self.count_label.setText(f"{total:,} people")
        else:
            self.count_label.setText(f"{'' if exact else 'at least '}{shown:,} of {total:,} people")

    def _find_row(self, pid: int) -> int:
        """Row of `pid`, fetching pages up to KEEP_SEARCH_ROWS rows; -1 when not among them."""
        row = self.model.row_of(pid)
        while row < 0 and self.model.canFetchMore() and self.model.rowCount() < KEEP_SEARCH_ROWS:
            self.model.fetchMore()
            row = self.model.row_of(pid)
        return row

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
