"""A vertical colour bar: the viewport's residual ramp (core's `ramp`) from its low to its high value, with
the values at the ends and the middle, a title with the unit, and the grey of vertices without a value."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from deformlearn.app.colours import ramp

BAR_WIDTH = 16
TICKS = 5


class ColourBar(QWidget):
    """Shows `ramp` over [low, high] (`set_range`), top = high; `title` names the quantity and its unit."""

    def __init__(self, title: str, parent=None) -> None:
        super().__init__(parent)
        self.title = title
        self.low, self.high = 0.0, 1.0
        self.setFixedWidth(84)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.setToolTip(f"{title}: colour of each vertex; grey where no point says anything")

    def set_range(self, low: float, high: float) -> None:
        self.low, self.high = float(low), float(high)
        self.update()

    def colour_at(self, value: float) -> QColor:
        """The colour the viewport gives `value` (what the bar shows at its height)."""
        r, g, b = ramp(np.array([value]), self.low, self.high)[0]
        return QColor(int(r), int(g), int(b))

    def bar_rect(self) -> QRect:
        """Where the gradient is drawn (widget pixels): below the title, above the 'no value' swatch."""
        line = self.fontMetrics().height()
        return QRect(6, 2 * line + 8, BAR_WIDTH, max(self.height() - 4 * line - 20, 10))

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(38, 40, 46))
        bar, line = self.bar_rect(), self.fontMetrics().height()
        p.setPen(QColor(230, 230, 230))
        p.drawText(QRect(2, 2, self.width() - 4, 2 * line + 4), Qt.TextFlag.TextWordWrap, self.title)
        values = np.linspace(self.high, self.low, bar.height())  # top row = high
        rgb = np.ascontiguousarray(np.repeat(ramp(values, self.low, self.high)[:, None, :], BAR_WIDTH, axis=1))
        image = QImage(rgb.data, BAR_WIDTH, bar.height(), 3 * BAR_WIDTH, QImage.Format.Format_RGB888)
        p.drawImage(bar.topLeft(), image)
        p.setPen(QColor(200, 200, 200))
        p.drawRect(bar.adjusted(0, 0, -1, -1))
        for k in range(TICKS):
            y = bar.top() + round(k * (bar.height() - 1) / (TICKS - 1))
            value = self.high + (self.low - self.high) * k / (TICKS - 1)
            p.drawLine(bar.right(), y, bar.right() + 4, y)
            p.drawText(QRect(bar.right() + 6, y - line // 2, self.width() - bar.right() - 6, line),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{value:.3g}")
        swatch = QRect(bar.left(), bar.bottom() + 8, BAR_WIDTH, line)
        p.fillRect(swatch, QColor(128, 128, 128))
        p.drawText(QRect(swatch.right() + 6, swatch.top(), self.width() - swatch.right() - 6, line),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "no value")
        p.end()
