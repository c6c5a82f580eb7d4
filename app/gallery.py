"""The gallery: the people list as a grid of large crops, each cut about the person's box (outlined on it),
framed in the colour of its review status, badged with its fit's quality verdict (good / poor / degenerate, in
the list's colours) and labelled with its name (image + person index), fit error and verdict.

It shows the same model and the same selection as the people table (app/people_panel.py), so sorting,
filtering and the current person are shared: what the list filters, the gallery filters.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from deformlearn.app.colours import ramp
from deformlearn.app.people_model import QUALITY_COLOURS, ROW_ROLE, STATUS_COLOURS
from deformlearn.app.thumbnails import crop_box

#: Longer side of a tile's crop, pixels.
GALLERY_PX = 150
#: Fit errors (px) at the green and red ends of the error colour.
ERROR_GOOD_PX, ERROR_BAD_PX = 2.0, 20.0
TEXT_LINES = 2
#: The person's box outline on its crop (the crop has a margin about the box, and may hold other people).
BOX_COLOUR = QColor("#ffd54f")


def error_colour(error_px: float | None) -> QColor:
    """Grey without a fit; from green (<= ERROR_GOOD_PX) through yellow to red (>= ERROR_BAD_PX)."""
    if error_px is None:
        return QColor("#9e9e9e")
    t = min(max((error_px - ERROR_GOOD_PX) / (ERROR_BAD_PX - ERROR_GOOD_PX), 0.0), 1.0)
    r, g, b = ramp([1.0 / 3 + 2.0 / 3 * t], 0.0, 1.0)[0]
    return QColor(int(r), int(g), int(b))


class GalleryDelegate(QStyledItemDelegate):
    """Paints one tile: crop with the person's box outlined, a frame in the review status's colour (thick when
    decided), a quality badge in the crop's top-left corner, two lines of text (the second coloured by quality, by
    error without a verdict)."""

    def __init__(self, model, parent=None) -> None:
        super().__init__(parent)
        self.model = model

    def sizeHint(self, option, index) -> QSize:
        return QSize(GALLERY_PX + 12, GALLERY_PX + 12 + TEXT_LINES * option.fontMetrics.height())

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        row = index.data(ROW_ROLE)
        if row is None:
            return
        painter.save()
        rect = option.rect.adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(rect, QColor(70, 90, 130) if selected else QColor(40, 40, 46))
        image_rect = QRect(rect.left() + 3, rect.top() + 3, GALLERY_PX, GALLERY_PX)
        pix = self.model.thumbnails.crop(row.id, row.image_file, GALLERY_PX) if self.model.thumbnails else None
        if pix is not None:
            x = image_rect.left() + (GALLERY_PX - pix.width()) // 2
            y = image_rect.top() + (GALLERY_PX - pix.height()) // 2
            painter.drawPixmap(x, y, pix)
            box = tile_box(self.model.thumbnails, row.id, row.image_file, pix.width(), pix.height())
            if box is not None:  # which person of a crowded crop the tile means
                painter.setPen(QPen(BOX_COLOUR, 1))
                painter.drawRect(box.translated(x, y))
        else:
            painter.setPen(QColor("#bbbbbb"))
            painter.drawText(image_rect, Qt.AlignmentFlag.AlignCenter, "no image")
        decided = row.status != "unreviewed"
        painter.setPen(QPen(QColor(STATUS_COLOURS.get(row.status, "#9e9e9e")), 4 if decided else 1))
        painter.drawRect(image_rect.adjusted(-1, -1, 1, 1))
        if row.fit_quality in QUALITY_COLOURS:
            self._badge(painter, option, image_rect, row.fit_quality)
        line = option.fontMetrics.height()
        text_rect = QRect(rect.left() + 3, image_rect.bottom() + 4, GALLERY_PX, line)
        painter.setPen(QColor("#f0f0f0"))
        name = option.fontMetrics.elidedText(self.model.thumbnails.label(row), Qt.TextElideMode.ElideMiddle,
                                             GALLERY_PX)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft, name)
        painter.setPen(QColor(QUALITY_COLOURS[row.fit_quality]) if row.fit_quality in QUALITY_COLOURS
                       else error_colour(row.fit_error if row.num_points else None))
        painter.drawText(text_rect.translated(0, line), Qt.AlignmentFlag.AlignLeft, tile_caption(row))
        painter.restore()

    @staticmethod
    def _badge(painter: QPainter, option: QStyleOptionViewItem, image_rect: QRect, quality: str) -> None:
        """The verdict as white text on its colour in the crop's top-left corner."""
        text_width = option.fontMetrics.horizontalAdvance(quality) + 8
        badge = QRect(image_rect.left() + 2, image_rect.top() + 2, text_width, option.fontMetrics.height() + 2)
        painter.fillRect(badge, QColor(QUALITY_COLOURS[quality]))
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, quality)


def tile_box(thumbnails, pid: int, image_file: str, width: int, height: int) -> QRectF | None:
    """Person `pid`'s box in the pixels of its crop (`thumbnails.crop`, `width` x `height`); None without an
    image."""
    rgb = thumbnails.image(image_file)
    if rgb is None:
        return None
    bx, by, bw, bh = (float(v) for v in thumbnails.bbox(pid))
    x0, y0, x1, y1 = crop_box(thumbnails.bbox(pid), rgb.shape[1], rgb.shape[0])
    sx, sy = width / (x1 - x0), height / (y1 - y0)
    return QRectF((bx - x0) * sx, (by - y0) * sy, bw * sx - 1, bh * sy - 1)


def tile_caption(row) -> str:
    """A tile's second line: fit error (or "not fitted", "failed", "keypoints only", or "fitted" for a fit
    without an error), quality verdict, and the review decision when there is one (the frame's colour says it
    too). Never the store's "converged", which every fit that ran has, converged or not."""
    if row.fit_status is None:
        fit = "not fitted"
    elif row.fit_status == "failed":
        fit = "failed"
    elif not row.num_points:
        fit = "keypoints only"  # no dense error to show
    else:
        fit = f"{row.fit_error:.1f} px" if row.fit_error is not None else "fitted"
    decision = None if row.status == "unreviewed" else row.status
    return " · ".join(part for part in (fit, row.fit_quality, decision) if part)


class GalleryView(QListView):
    """A grid over the people model; give it the table's selection model so both show one current person."""

    def __init__(self, model, selection_model, parent=None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionModel(selection_model)
        self.setModelColumn(1)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setItemDelegate(GalleryDelegate(model, self))
        self.setStyleSheet("QListView { background: rgb(28, 28, 32); }")
