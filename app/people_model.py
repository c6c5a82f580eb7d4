"""The people list as a lazily fetched table model: pages come from the project store as the view scrolls.

One page of `list_persons` is read at a time, so a 100,000-person project opens as
fast as a 50-person one. Sorting and filtering are done by the store (SQL), never in Python over all rows.

The fit columns say what is true of each person's current fit: "fit" is whether the optimiser converged
(metrics["converged"]: 1 "converged", 0 "step limit": it ran every step while still changing), "fitted" for a
fit that does not say (a regressor prediction, an older fit), "failed" or "not fitted"; "quality" is the
store's verdict (good / poor / degenerate, core/registration/quality.py) with its flags as the tooltip. The
converged metric and the flags come with each page of rows (PersonRow.fit_converged, fit_flags).
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "unreviewed": "#9e9e9e", "accepted": "#43a047", "rejected": "#e53935", "failed": "#8e24aa",
}
#: Colour of each quality verdict (list text, gallery tiles).
QUALITY_COLOURS = {"good": "#43a047", "poor": "#fb8c00", "degenerate": "#e53935"}
#: What each fit label means (the fit column's tooltip).
FIT_LABELS = {
    "converged": "the optimiser converged (the loss stopped changing)",
    "step limit": "the optimiser ran all its steps while the loss was still changing",
    "fitted": "fitted; the fit does not record whether its optimiser converged (a prediction or an older fit)",
    "failed": "the fit failed (diverged or could not run)",
    "not fitted": "no fit yet",
}
FIT_LABEL_COLOURS = {"converged": "#1e88e5", "step limit": "#90a4ae", "fitted": "#90a4ae", "failed": "#8e24aa"}
#: Plain words for the quality flags of core/registration/quality.py (the quality column's tooltip).
FLAG_TEXT = {
    "diverged": "the optimiser diverged",
    "few_points": "too few points and keypoints to pin the body down",
    "points_at_one_spot": "the points all lie at one spot",
    "scale_collapse": "the camera scale collapsed (the body is drawn as a dot)",
    "scale_blowup": "the camera scale blew up (the body is far larger than its box)",
    "dense_residual": "mean dense error above the poor threshold (8 px of 256)",
    "keypoint_residual": "mean keypoint error above the poor threshold (12 px of 256)",
    "implausible_pose": "joints bent beyond their anatomical ranges",
    "trunk_in_depth": "the trunk leans more than 25 degrees in depth (45 when it is tilted in the picture)",
    "few_parts": "dense points on under 8 of the 24 parts and no keypoints: most of the body is guessed",
    "mesh_outside_box": "the mesh reaches far outside the person's box",
}
#: list_persons order_by key of the quality column (core's ORDER_COLUMNS: good, poor, degenerate, unjudged).
QUALITY_ORDER = "quality"
#: (header, PersonRow field, list_persons order_by key) of each column.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("id", "id", "id"), ("name", "name", "name"), ("error", "fit_error", "error"),
    ("quality", "fit_quality", QUALITY_ORDER), ("review", "status", "status"), ("fit", "fit_status", "fit_status"),
    ("points", "num_points", "points"), ("keypoints", "num_keypoints", "keypoints"),
)



def column_of(field: str) -> int:
    """The table column showing PersonRow field `field` ("name", "status", "fit_quality", ...)."""
    return [c[1] for c in COLUMNS].index(field)


HEADER_TIPS = {
    "fit_error": "The current fit's mean dense error in image pixels (kp only: fitted to keypoints alone, so "
                 "there is no dense error; sorted after every error)",
    "fit_status": "Did the current fit's optimiser converge? (converged / step limit / fitted / failed)",
    "fit_quality": "Verdict on the current fit: good, poor (off, or an implausible pose) or degenerate (means "
                   "nothing); hover a cell for its reasons",
}


@dataclass(frozen=True)
class FitFacts:
    """What the list shows of a person's current fit beyond its PersonRow: `converged` (metrics["converged"]:
    1.0, 0.0 or None when the fit does not say) and `flags` (the quality verdict's reasons)."""

    converged: float | None
    flags: tuple[str, ...]

    @classmethod
    def of_metrics(cls, metrics: dict) -> FitFacts:
        return cls.of_values(metrics.get("converged"), metrics.get("quality_flags"))

    @classmethod
    def of_values(cls, converged, flags) -> FitFacts:
        """From the stored converged metric (a number, a bool or None) and comma-separated flags (or None)."""
        return cls(float(converged) if isinstance(converged, (int, float)) else None,
                   tuple(f for f in str(flags or "").split(",") if f))


def fit_label(fit_status: str | None, facts: FitFacts | None) -> str:
    """The fit column's word (a key of FIT_LABELS): never "converged" for a fit whose optimiser did not."""
    if fit_status is None:
        return "not fitted"
    if fit_status == "failed":
        return "failed"
    converged = None if facts is None else facts.converged
    return "fitted" if converged is None else "converged" if converged >= 0.5 else "step limit"


def quality_tooltip(quality: str | None, flags: tuple[str, ...]) -> str:
    """The quality column's tooltip: the verdict and each flag in plain words."""
    if quality is None:
        return "no quality verdict (not fitted, or a fit made before verdicts were kept)"
    lines = [f"quality {quality}"] + [f"• {FLAG_TEXT.get(f, f.replace('_', ' '))}" for f in flags]
    return "\n".join(lines if flags else [*lines, "nothing flagged"])


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
        """Re-read one person's row (after a review, a fit or an edit) in place, without resetting the view: a
        row the change moves in the sort order, or out of the filter, stays put until the next refresh."""
        i = self.row_of(pid)
        if i < 0:
            return
        fresh = self._project.person_row(pid)
        if fresh is not None:
            self._rows[i] = fresh
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
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(COLUMNS[section][1])
        return None

    @staticmethod
    def facts(row: PersonRow) -> FitFacts | None:
        """The current fit's FitFacts (None without a fit)."""
        return None if row.fit_status is None else FitFacts.of_values(row.fit_converged, row.fit_flags)

    def data(self, index: QModelIndex | QPersistentModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        field = COLUMNS[index.column()][1]
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.UserRole:
            return row.id
        if role == Qt.ItemDataRole.DecorationRole and field == "name":
            return self.thumbnails.crop(row.id, row.image_file, THUMB_PX)
        if field == "fit_status":
            return self._fit_data(row, role)
        if role == Qt.ItemDataRole.ToolTipRole and field in ("fit_quality", "name"):
            facts = self.facts(row)
            tip = quality_tooltip(row.fit_quality, () if facts is None else facts.flags)
            if field == "name":  # the gallery's tiles show this column: the whole story of the fit
                label = fit_label(row.fit_status, facts)
                tip = f"{self.thumbnails.label(row)}\nfit: {label} ({FIT_LABELS[label]})\n{tip}"
            return tip
        if field == "fit_error" and not row.num_points and row.fit_status is not None:
            return self._no_dense_error(role)
        value = getattr(row, field)
        if role == Qt.ItemDataRole.DisplayRole:
            if field == "name":
                return self.thumbnails.label(row)
            if field == "num_keypoints" and not value:
                return "none"
            if value is None:
                return "—"
            return f"{value:.3g}" if isinstance(value, float) else str(value)
        if role == Qt.ItemDataRole.ForegroundRole:
            colour = STATUS_COLOURS.get(value) if field == "status" else \
                QUALITY_COLOURS.get(value) if field == "fit_quality" else None
            return None if colour is None else QBrush(QColor(colour))
        return None

    @staticmethod
    def _no_dense_error(role):
        """The error column of a fitted person without dense points: no dense error to show (core stores none)."""
        if role == Qt.ItemDataRole.DisplayRole:
            return "kp only"
        if role == Qt.ItemDataRole.ToolTipRole:
            return "fitted to keypoints alone: no dense error (the image view shows its keypoint error)"
        return None

    def _fit_data(self, row: PersonRow, role):
        """The fit column: `fit_label`, coloured, its meaning as the tooltip."""
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole):
            return None
        label = fit_label(row.fit_status, self.facts(row))
        if role == Qt.ItemDataRole.DisplayRole:
            return label
        if role == Qt.ItemDataRole.ToolTipRole:
            return FIT_LABELS[label]
        return QBrush(QColor(FIT_LABEL_COLOURS[label])) if label in FIT_LABEL_COLOURS else None

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
