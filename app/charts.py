"""Charts worth reading: a pyqtgraph plot with labelled axes and its legend in a column of its own (never over
the curves), one distinct colour per series (curve and markers alike), and a table of metrics per round.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

#: Round metrics worth a curve (errors in mm / px); counts, timings and settings are left out.
METRIC_TAGS = ("mpjpe", "_px", "error")


def series_colour(i: int, n: int) -> tuple[int, int, int]:
    """A distinct colour for series i of n (hues spread evenly, at least 6 apart)."""
    c = pg.intColor(i, hues=max(n, 6), values=1, maxValue=255, minValue=150, sat=200)
    return c.red(), c.green(), c.blue()


class LegendPlot(QWidget):
    """A pyqtgraph plot (`plot`, a PlotItem) with axis labels, and its legend (`legend`, a QLabel) in a column
    to its right, so it never covers a curve and is never clipped by the data area. When the column is too
    short for every entry it lists what fits and ends with "+ k more" (never a line cut in half); its tooltip
    always lists them all. Without a series the axes show no numbers and the column says `empty_text`
    (an empty chart's made-up 0..1 ticks read as data)."""

    def __init__(self, title: str, x_label: str, y_label: str, empty_text: str = "", parent=None) -> None:
        super().__init__(parent)
        self.widget = pg.PlotWidget(title=title)
        self.widget.setBackground((25, 25, 28))
        self.plot = self.widget.getPlotItem()
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.legend = QLabel()
        self.legend.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.legend.setMinimumWidth(120)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.widget, 1)
        lay.addWidget(self.legend)
        self._items: dict[str, pg.PlotDataItem] = {}
        self._entries: list[str] = []  # one rich-text legend line per series
        self.empty_text = empty_text
        self._show_legend()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._show_legend()

    def _show_legend(self) -> None:
        """Fill the legend column with the entries that fit its height (see the class docstring)."""
        fits = max(1, self.legend.height() // max(self.legend.fontMetrics().lineSpacing(), 1))
        for axis in ("left", "bottom"):
            self.plot.getAxis(axis).setStyle(showValues=bool(self._entries))
        if not self._entries:
            self.legend.setText(f'<i style="color:#9a9a9a">{html.escape(self.empty_text)}</i>')
            self.legend.setToolTip("")
            return
        shown = self._entries
        if len(shown) > fits:
            shown = shown[:fits - 1] + [f"<i>+ {len(shown) - fits + 1} more (hover)</i>"]
        self.legend.setText("<br>".join(shown))
        self.legend.setToolTip("<br>".join(self._entries))

    def series(self, name: str) -> pg.PlotDataItem:
        """The curve called `name`, made on first use (colours are re-spread over all series then)."""
        if name not in self._items:
            self._items[name] = self.plot.plot()
            self._recolour()
        return self._items[name]

    def _recolour(self) -> None:
        n = len(self._items)
        entries = []
        for i, (name, item) in enumerate(self._items.items()):
            colour = series_colour(i, n)
            item.setPen(pg.mkPen(colour, width=2))
            if item.opts.get("symbol") is not None:
                item.setSymbolBrush(pg.mkBrush(colour))
                item.setSymbolPen(pg.mkPen(colour))
            hex_colour = "#" + "".join(f"{c:02x}" for c in colour)
            entries.append(f'<span style="color:{hex_colour}">&#9632;</span>&nbsp;{html.escape(name)}')
        self._entries = entries
        self._show_legend()

    def set_series(self, name: str, x: np.ndarray, y: np.ndarray, markers: bool = False) -> pg.PlotDataItem:
        item = self.series(name)
        if markers and item.opts.get("symbol") is None:
            item.setSymbol("o")
            item.setSymbolSize(8)
            self._recolour()
        item.setData(np.asarray(x, float), np.asarray(y, float))
        return item

    def clear_series(self) -> None:
        for item in self._items.values():
            self.plot.removeItem(item)
        self._entries = []
        self._show_legend()
        self._items.clear()

    def names(self) -> list[str]:
        return list(self._items)


def round_error_series(rounds) -> dict[str, list[tuple[int, float]]]:
    """name -> [(round index, value)] of each round's error metrics (METRIC_TAGS; settings left out)."""
    series: dict[str, list[tuple[int, float]]] = {}
    for rnd in rounds:
        for name, value in flatten_metrics(rnd.metrics).items():
            if any(tag in name for tag in METRIC_TAGS) and not name.startswith("settings"):
                series.setdefault(name, []).append((rnd.index, value))
    return series


class RoundMetricsTable(QTableWidget):
    """Rows: error metrics; columns: rounds; cells: the value (3 significant digits), '—' where absent."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def show_series(self, series: dict[str, list[tuple[int, float]]]) -> None:
        rounds = sorted({r for pts in series.values() for r, _ in pts})
        names = sorted(series)
        self.clear()
        self.setRowCount(len(names))
        self.setColumnCount(len(rounds))
        self.setHorizontalHeaderLabels([f"round {r}" for r in rounds])
        self.setVerticalHeaderLabels(names)
        for i, name in enumerate(names):
            values = dict(series[name])
            for j, r in enumerate(rounds):
                self.setItem(i, j, QTableWidgetItem(f"{values[r]:.4g}" if r in values else "—"))


def flatten_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Nested metric dicts -> {"a/b": value} of the finite numbers (bools and strings left out)."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(flatten_metrics(v, f"{prefix}{k}/"))
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
            out[f"{prefix}{k}"] = float(v)
    return out
