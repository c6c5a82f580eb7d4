"""The people list as a lazily fetched table model: pages come from the project store as the view scrolls.

One page of `list_persons` is read at a time, so a 100,000-person project opens as
fast as a 50-person one. Sorting and filtering are done by the store (SQL), never in Python over all rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from deformlearn.app.thumbnails import PersonThumbnails
from deformlearn.core.project import PersonRow

PAGE_SIZE = 256
#: Height of the person crop in each row of the list (the gallery's tiles are larger: app/gallery.py).
THUMB_PX = 48
#: data(index, ROW_ROLE) is the row's PersonRow (the gallery paints from it).
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_COLOURS = {
    "unreviewed": "#9e9e9e", "converged": "#1e88e5", "accepted": "#43a047", "rejected": "#e53935", "failed": "#8e24aa",
}
#: (header, PersonRow field, list_persons order_by key) of each column.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "id", "id"), ("name", "name", "name"), ("error px", "fit_error", "error"), ("review", "status", "status"),
    ("fit", "fit_status", "fit_status"), ("points", "num_points", "points"),
    ("keypoints", "num_keypoints", "keypoints"),
)


@dataclass
class PeopleFilter:
    """What the list shows: status (review) None = all; fit_status "unfitted"/"fitted"/"failed" (latest fit) or
    None = all; max_error None = no threshold; search = substring of the name."""

    status: str | None = None
    max_error: float | None = None
    search: str = ""
    fit_status: str | None = None

    def store_kwargs(self) -> dict[str, Any]:
        return {"status": self.status, "fit_status": self.fit_status, "max_error": self.max_error,
                "search": self.search or None}


class PeopleTableModel(QAbstractTableModel):
    """Rows are `PersonRow`s of one project (see core/project/records.py); columns are `COLUMNS`.

    Pages are fetched until one comes back short, so no count over the filtered table is ever needed.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._project = None
        self._rows: list[PersonRow] = []
        self._exhausted = True
        self._order_by = "id"
        self._descending = False
        self.filter = PeopleFilter()
        self.thumbnails: PersonThumbnails | None = None

    # ---- project and query -------------------------------------------------------------------------------
    def set_project(self, project) -> None:
        self._project = project
        self.thumbnails = None if project is None else PersonThumbnails(project)
        self.refresh()

    @property
    def project(self):
        return self._project

    def set_filter(self, people_filter: PeopleFilter) -> None:
        self.filter = people_filter
        self.refresh()

    def refresh(self) -> None:
        """Re-read the first page (after a filter, sort or bulk change)."""
        self.beginResetModel()
        self._rows = []
        self._exhausted = self._project is None
        if self._project is not None:
            self._append_page()
        self.endResetModel()

    def shown_count(self) -> tuple[int, bool]:
        """(how many people the filter lets through, exact?): exact once every page is loaded or when the
        store can count the filter; otherwise a lower bound (the rows loaded so far)."""
        if self._exhausted:
            return len(self._rows), True
        f = self.filter
        if f.max_error is None and not f.search:
            return self._project.count_persons(status=f.status, fit_status=f.fit_status), True
        return len(self._rows), False

    def _append_page(self) -> list[PersonRow]:
        rows = self._project.list_persons(
            offset=len(self._rows), limit=PAGE_SIZE, order_by=self._order_by, descending=self._descending,
            **self.filter.store_kwargs(),
        )
        self._rows.extend(rows)
        self._exhausted = len(rows) < PAGE_SIZE
        return rows

    def update_row(self, pid: int) -> None:
        """Re-read one person's row (after a review or a fit) in place, without resetting the view."""
        i = self.row_of(pid)
        if i < 0:
            return
        fresh = self._project.list_persons(offset=i, limit=1, order_by=self._order_by, descending=self._descending,
                                           **self.filter.store_kwargs())
        if fresh and fresh[0].id == pid:
            self._rows[i] = fresh[0]
        else:  # sorted or filtered by what changed, so the row moved: patch it here, re-sort on the next refresh
            record = self._project.person(pid)
            self._rows[i] = replace(self._rows[i], status=record.status)
        if self.thumbnails is not None:
            self.thumbnails.forget(pid)
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    # ---- lazy fetching -----------------------------------------------------------------------------------
    def canFetchMore(self, parent=QModelIndex()) -> bool:
        return not parent.isValid() and not self._exhausted

    def fetchMore(self, parent=QModelIndex()) -> None:
        if parent.isValid() or self._project is None or self._exhausted:
            return
        first = len(self._rows)
        # Pages grow with the rows already loaded: the store pages by OFFSET, which rescans the skipped rows,
        # so geometric pages keep jumping to the end of 100,000 people to a few dozen queries.
        limit = max(PAGE_SIZE, first // 2)
        rows = self._project.list_persons(
            offset=first, limit=limit, order_by=self._order_by, descending=self._descending,
            **self.filter.store_kwargs(),
        )
        self._exhausted = len(rows) < limit
        if rows:
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()

    # ---- Qt model interface ------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section][0]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        field = COLUMNS[index.column()][1]
        value = getattr(row, field)
        if role == Qt.ItemDataRole.DisplayRole:
            if field == "name":
                return self.thumbnails.label(row)
            if field == "num_keypoints" and not value:
                return "none"
            if value is None:
                return "—"
            return f"{value:.3g}" if isinstance(value, float) else str(value)
        if role == Qt.ItemDataRole.DecorationRole and field == "name":
            return self.thumbnails.crop(row.id, row.image_file, THUMB_PX)
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ForegroundRole and field in ("status", "fit_status") and value in STATUS_COLOURS:
            return QBrush(QColor(STATUS_COLOURS[value]))
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        return None

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._order_by = COLUMNS[column][2]
        self._descending = order == Qt.SortOrder.DescendingOrder
        self.refresh()

    # ---- helpers for navigation --------------------------------------------------------------------------
    def person_id(self, row: int) -> int:
        return self._rows[row].id

    def row_of(self, pid: int) -> int:
        """Row of a loaded person, or -1."""
        for i, row in enumerate(self._rows):
            if row.id == pid:
                return i
        return -1

    def ensure_loaded(self, row: int) -> bool:
        """Fetch pages until `row` is loaded; False when the filter has fewer rows."""
        while row >= len(self._rows) and self.canFetchMore():
            self.fetchMore()
        return row < len(self._rows)
