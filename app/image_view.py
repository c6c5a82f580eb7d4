"""The image view: the person's image with toggleable overlays, zoom and pan (pyqtgraph ViewBox).

Overlays: DensePose points coloured by part / U / V; keypoints with the COCO skeleton (draggable when
editing); the projected fit as a wireframe or a filled silhouette with alpha; residual lines from each point
to its projected vertex; the IUV image; on an image of several people, every person's box and index (the shown
one bright). A banner names the edit mode while one is on; the image point picked for a new correspondence
is marked with a magenta cross until its vertex is chosen, then with a magenta ring (the pair just made,
its vertex highlighted in the 3D view) until the next click. All coordinates are image pixels (x right, y down).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from deformlearn.app.colours import PART_COLOURS, ramp
from deformlearn.app.people_model import FitFacts, fit_label
from deformlearn.app.person_scene import PersonScene, unique_edges
from deformlearn.core.body import COCO_SKELETON
from deformlearn.core.render import rasterize

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

#: Banner text and colour of each edit mode (none for "view").
MODE_BANNERS = {
    "keypoints": ("Editing: drag a keypoint to move it (Ctrl+Z undoes)", "#8a6d00"),
    "delete_points": ("Editing: click a dense point to delete it (Ctrl+Z undoes)", "#8e2020"),
    "add_point": ("Editing: click the image, then the matching point on the body in the 3D view", "#1d5e8a"),
}


def box_outline(bbox: np.ndarray) -> np.ndarray:
    """(8, 2) segment ends (pairs) of a box (4,) x, y, w, h in pixels."""
    x, y, w, h = (float(v) for v in bbox)
    c = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    return c[[0, 1, 1, 2, 2, 3, 3, 0]]


def fit_summary(metrics: dict, keypoints: np.ndarray, num_points: int) -> str:
    """The info line's fit part: dense error only for a person with dense points (`num_points` > 0; never
    "error 0 px" for a keypoint-only one), keypoint error only for a person with visible keypoints (never
    "keypoint error 0 px" for one without), and the quality verdict with its reasons when the fit has one."""
    parts = []
    if num_points and metrics.get("num_points", 1) != 0 and isinstance(metrics.get("error"), (int, float)):
        parts.append(f"error {metrics['error']:.3g} px")
    has_keypoints = bool((keypoints[:, 2] > 0).any()) and metrics.get("num_keypoints", 1) != 0
    kp_error = metrics.get("keypoint_error_px", metrics.get("keypoint_error"))  # older app fits: keypoint_error
    if has_keypoints and isinstance(kp_error, (int, float)):
        parts.append(f"keypoint error {kp_error:.3g} px")
    quality = metrics.get("quality")
    if isinstance(quality, str) and quality:
        flags = str(metrics.get("quality_flags") or "").replace(",", ", ")
        parts.append(f"quality {quality}" + (f" ({flags})" if flags else ""))
    return " — ".join(parts)


class KeypointItem(pg.ScatterPlotItem):
    """Keypoints that can be dragged one at a time; emits (k, x, y) when a drag ends."""

    def __init__(self, on_moved, on_moving) -> None:
        super().__init__(size=9, pen=pg.mkPen("k"), brush=pg.mkBrush(255, 220, 0))
        self.editable = False
        self._drag: int | None = None
        self._on_moved, self._on_moving = on_moved, on_moving

    def mouseDragEvent(self, ev) -> None:
        if not self.editable or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            hits = self.pointsAt(ev.buttonDownPos())
            if len(hits) == 0:
                ev.ignore()
                return
            self._drag = int(hits[0].data())
        if self._drag is None:
            ev.ignore()
            return
        pos = ev.pos()
        self._on_moving(self._drag, pos.x(), pos.y())
        if ev.isFinish():
            self._on_moved(self._drag, pos.x(), pos.y())
            self._drag = None
        ev.accept()


class ImageView(QWidget):
    """Shows one `PersonScene`; emits edits (keypoint moved, point clicked, image clicked) for the window."""

    keypointMoved = Signal(int, float, float)
    densePointClicked = Signal(int)
    imageClicked = Signal(float, float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.scene_data: PersonScene | None = None
        self._faces: np.ndarray | None = None
        self._edges: np.ndarray | None = None
        self._other_fits: list[np.ndarray] = []
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground((30, 30, 34))
        self.viewbox = self.graphics.addViewBox(lockAspect=True, invertY=True)
        self._make_items()
        self.viewbox.scene().sigMouseClicked.connect(self._scene_clicked)
        bar = self._make_toolbar()
        self.mode_banner = QLabel("")
        self.mode_banner.setVisible(False)
        self.mode_banner.setObjectName("edit_mode_banner")
        self.mode_banner.setWordWrap(True)  # a long warning wraps instead of widening the window
        self.mode_banner.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.info = QLabel("")
        self.info.setObjectName("person_info")
        self.info.setWordWrap(True)  # the whole line shows, on two lines in a narrow view (was cut: "... keypoin")
        self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # long names never widen the window
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addLayout(bar)
        lay.addWidget(self.mode_banner)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.info)
        #: "view", "delete_points" or "add_point": what a click on the image does.
        self.edit_mode = "view"

    def _make_items(self) -> None:
        """The view box's layers, bottom to top: image, IUV, silhouette, the other people's fits, boxes,
        wireframe, compared fit, residuals, dense points, skeleton, keypoints, the picked image point."""
        self.image_item = pg.ImageItem()
        self.iuv_item = pg.ImageItem()
        self.iuv_item.setOpacity(0.6)
        self.silhouette_item = pg.ImageItem()
        self.wire_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((80, 220, 255, 110), width=1))
        self.residual_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((255, 60, 60, 220), width=1))
        self.compare_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((255, 150, 30, 90), width=1))
        self.points_item = pg.ScatterPlotItem(size=5, pen=None)
        self.points_item.sigClicked.connect(self._points_clicked)
        self.skeleton_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((255, 255, 255, 220), width=2))
        self.keypoint_item = KeypointItem(self._keypoint_moved, self._keypoint_moving)
        self.others_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((200, 200, 200, 140), width=1,
                                                                         style=Qt.PenStyle.DashLine))
        self.others_fit_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((170, 170, 255, 55), width=1))
        self.own_box_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen((255, 230, 80, 230), width=2))
        self.pending_item = pg.ScatterPlotItem(size=16, symbol="+", pen=pg.mkPen((255, 0, 255), width=3),
                                               brush=None)
        self._box_labels: list[pg.TextItem] = []
        for item in (self.image_item, self.iuv_item, self.silhouette_item, self.others_fit_item, self.others_item,
                     self.own_box_item, self.wire_item, self.compare_item, self.residual_item, self.points_item,
                     self.skeleton_item, self.keypoint_item, self.pending_item):
            self.viewbox.addItem(item)

    def _make_toolbar(self) -> QHBoxLayout:
        """The overlay toggles above the image: points and their colouring, keypoints, fit style and alpha,
        residuals, IUV."""
        self.show_points = self._check("Points", True)
        self.point_colour = QComboBox()
        self.point_colour.addItems(["part", "U", "V"])
        self.point_colour.currentTextChanged.connect(lambda _: self.redraw())
        self.show_keypoints = self._check("Keypoints", True)
        self.show_fit = self._check("Fit", True)
        self.fit_style = QComboBox()
        self.fit_style.addItems(["silhouette", "parts", "wireframe"])
        self.fit_style.currentTextChanged.connect(lambda _: self.redraw())
        self.alpha = QSlider(Qt.Orientation.Horizontal)
        self.alpha.setRange(0, 100)
        self.alpha.setValue(40)
        self.alpha.setMaximumWidth(90)
        self.alpha.valueChanged.connect(lambda _: self.redraw())
        self.show_residuals = self._check("Residuals", False)
        self.show_iuv = self._check("IUV", False)
        bar = QHBoxLayout()
        for w in (self.show_points, self.point_colour, self.show_keypoints, self.show_fit, self.fit_style,
                  QLabel("alpha"), self.alpha, self.show_residuals, self.show_iuv):
            bar.addWidget(w)
        bar.addStretch(1)
        return bar

    def _check(self, text: str, on: bool) -> QCheckBox:
        box = QCheckBox(text)
        box.setChecked(on)
        box.toggled.connect(lambda _: self.redraw())
        return box

    def set_template_faces(self, faces: np.ndarray, face_part: np.ndarray) -> None:
        """Faces (F, 3) of the template and each face's DensePose part (F,) 1..24."""
        self._faces = faces
        self._face_part = face_part
        self._edges = unique_edges(faces)

    def set_edit_mode(self, mode: str) -> None:
        self.edit_mode = mode
        self.keypoint_item.editable = mode == "keypoints"
        self.set_pending_point(None)
        text, colour = MODE_BANNERS.get(mode, ("", ""))
        self.mode_banner.setText(text)
        self.mode_banner.setStyleSheet(f"background: {colour}; color: white; font-weight: bold; padding: 4px;")
        self.mode_banner.setVisible(bool(text))

    def set_compare(self, vertices_image: np.ndarray | None) -> None:
        """Draw another fit of the person as an orange wireframe: (V, 3) image pixels (x, y, depth), or None."""
        if vertices_image is None or self._edges is None:
            self.compare_item.setData(x=np.zeros(0), y=np.zeros(0))
            return
        pts = vertices_image[self._edges.reshape(-1), :2]
        self.compare_item.setData(x=pts[:, 0], y=pts[:, 1])

    def show_warning(self, text: str) -> None:
        """Show `text` in the banner in red until the mode changes."""
        self.mode_banner.setText(text)
        self.mode_banner.setStyleSheet("background: #b71c1c; color: white; font-weight: bold; padding: 4px;")
        self.mode_banner.setVisible(True)

    def set_other_fits(self, fits: list[np.ndarray]) -> None:
        """Draw the fits of the image's other people as faint wireframes: each (V, 3) image pixels (x, y,
        depth); shown while "Fit" is on."""
        self._other_fits = fits
        self._draw_other_fits()

    def _draw_other_fits(self) -> None:
        """The other people's wireframes (`set_other_fits`), or none while "Fit" is off."""
        fits = self._other_fits if self.show_fit.isChecked() and self._edges is not None else []
        pts = np.concatenate([f[self._edges.reshape(-1), :2] for f in fits]) if fits else np.zeros((0, 2))
        self.others_fit_item.setData(x=pts[:, 0], y=pts[:, 1])

    def set_pending_point(self, xy: tuple[float, float] | None, paired: bool = False) -> None:
        """Mark (x, y) image pixels: a cross while the point waits for its vertex, a ring once `paired` (None:
        no mark)."""
        if xy is None:
            self.pending_item.setData(x=np.zeros(0), y=np.zeros(0))
        else:
            self.pending_item.setData(x=[xy[0]], y=[xy[1]], symbol="o" if paired else "+")

    def set_people_boxes(self, people: list[tuple[int, str, np.ndarray]], current: int) -> None:
        """Boxes of every person on the image: (person id, label, bbox (4,) pixels); `current` drawn bright.
        A single person gets no box (its image is all about it)."""
        for label in self._box_labels:
            self.viewbox.removeItem(label)
        self._box_labels = []
        others = [box_outline(b) for pid, _, b in people if pid != current]
        own = [box_outline(b) for pid, _, b in people if pid == current]
        if len(people) <= 1:
            others, own = [], []
        for item, segs in ((self.others_item, others), (self.own_box_item, own)):
            pts = np.concatenate(segs) if segs else np.zeros((0, 2))
            item.setData(x=pts[:, 0], y=pts[:, 1])
        if len(people) <= 1:
            return
        for k, (pid, _, b) in enumerate(people):
            text = pg.TextItem(str(k + 1), color=(255, 230, 80) if pid == current else (220, 220, 220),
                               fill=pg.mkBrush(0, 0, 0, 150), anchor=(0, 1))
            text.setPos(float(b[0]), float(b[1]))
            self.viewbox.addItem(text)
            self._box_labels.append(text)

    # ---- drawing -----------------------------------------------------------------------------------------
    def set_scene(self, scene: PersonScene | None, reset_view: bool = True) -> None:
        self.scene_data = scene
        self.set_pending_point(None)
        self.set_compare(None)
        if scene is None:
            self.image_item.clear()
            self.iuv_item.clear()
            self.set_people_boxes([], -1)
            self.set_other_fits([])
        else:
            if scene.image is not None:
                self.image_item.setImage(scene.image, autoLevels=False, levels=(0, 255))
            else:
                self.image_item.clear()
            if scene.iuv is not None:
                self.iuv_item.setImage(_iuv_to_rgb(scene.iuv), autoLevels=False, levels=(0, 255))
            else:
                self.iuv_item.clear()
        self.redraw()
        if scene is not None and reset_view:
            x, y, w, h = scene.bbox
            pad = 0.15 * max(w, h)
            self.viewbox.setRange(xRange=(x - pad, x + w + pad), yRange=(y - pad, y + h + pad), padding=0)

    def update_fit(self, vertices_image: np.ndarray) -> None:
        """Animate the projected fit: (V, 3) image pixels, x y and z away from the camera. Live frames fill the
        silhouette at half resolution (a quarter of the work); `set_scene`/`redraw` draw it in full."""
        if self.scene_data is not None:
            self.scene_data.fit_vertices_image = vertices_image
            self._draw_fit(self.scene_data, scale=0.5)

    def redraw(self, fit_only: bool = False) -> None:
        s = self.scene_data
        empty = np.zeros(0)
        if s is None:
            for item in (self.points_item, self.keypoint_item):
                item.setData(x=empty, y=empty)
            for item in (self.wire_item, self.residual_item, self.skeleton_item):
                item.setData(x=empty, y=empty)
            self.silhouette_item.clear()
            self.info.setText("")
            return
        self._draw_other_fits()  # not in _draw_fit: live frames redraw the current fit alone
        self._draw_fit(s)
        if fit_only:
            return
        self.iuv_item.setVisible(self.show_iuv.isChecked() and s.iuv is not None)
        if self.show_points.isChecked() and s.num_points:
            mode = self.point_colour.currentText()
            colours = PART_COLOURS[s.dense_part] if mode == "part" else ramp(s.dense_uv[:, 0 if mode == "U" else 1], 0, 1)
            brushes = [pg.mkBrush(*c) for c in colours]
            self.points_item.setData(x=s.dense_xy[:, 0], y=s.dense_xy[:, 1], brush=brushes,
                                     data=np.arange(s.num_points))
        else:
            self.points_item.setData(x=empty, y=empty)
        self._draw_keypoints(s.keypoints)
        # a shown fit is never a failed one (scene_loader), so its store status is "converged", which fit_label
        # turns into what the fit's metrics say: converged / step limit / fitted
        fitted = "not fitted" if s.fit_vertices_image is None else fit_label("converged", FitFacts.of_metrics(s.metrics))
        n_kp = int((s.keypoints[:, 2] > 0).sum())
        err = fit_summary(s.metrics, s.keypoints, s.num_points) if s.fit_vertices_image is not None else ""
        self.info.setText(f"{s.name} — {s.status} — {s.num_points} points, {n_kp or 'no'} keypoints — {fitted}"
                          f"{' — ' + err if err else ''}")
        self.info.setToolTip(self.info.text())

    def _draw_keypoints(self, kp: np.ndarray, moving: tuple[int, float, float] | None = None) -> None:
        empty = np.zeros(0)
        if not self.show_keypoints.isChecked():
            self.keypoint_item.setData(x=empty, y=empty)
            self.skeleton_item.setData(x=empty, y=empty)
            return
        kp = kp.copy()
        if moving is not None:
            kp[moving[0], :2] = moving[1:]
        vis = np.flatnonzero(kp[:, 2] > 0)
        self.keypoint_item.setData(x=kp[vis, 0], y=kp[vis, 1], data=vis)
        seg = [(a, b) for a, b in COCO_SKELETON if kp[a, 2] > 0 and kp[b, 2] > 0]
        pts = kp[np.array(seg, int).reshape(-1), :2] if seg else np.zeros((0, 2))
        self.skeleton_item.setData(x=pts[:, 0], y=pts[:, 1])

    def _draw_fit(self, s: PersonScene, scale: float = 1.0) -> None:
        empty = np.zeros(0)
        show = self.show_fit.isChecked() and s.fit_vertices_image is not None and self._faces is not None
        style = self.fit_style.currentText()
        if show and style == "wireframe":
            pts = s.fit_vertices_image[self._edges.reshape(-1), :2]
            self.wire_item.setData(x=pts[:, 0], y=pts[:, 1])
        else:
            self.wire_item.setData(x=empty, y=empty)
        if show and style in ("silhouette", "parts"):
            self._draw_silhouette(s, by_part=style == "parts", scale=scale)
        else:
            self.silhouette_item.clear()
        if self.show_residuals.isChecked():
            seg = s.residual_segments().reshape(-1, 2)
            self.residual_item.setData(x=seg[:, 0], y=seg[:, 1])
        else:
            self.residual_item.setData(x=empty, y=empty)

    def _draw_silhouette(self, s: PersonScene, by_part: bool, scale: float = 1.0) -> None:
        """Rasterise the projected mesh (nearest face per pixel, core.render.rasterize) into an RGBA layer over the
        region around the person, at `scale` pixels per image pixel, one colour or one colour per DensePose
        part, with the alpha slider's opacity."""
        v = s.fit_vertices_image
        lo = np.floor(np.minimum(v[:, :2].min(0), s.bbox[:2]) - 2)
        hi = np.ceil(np.maximum(v[:, :2].max(0), s.bbox[:2] + s.bbox[2:]) + 2)
        size = np.minimum(hi - lo, 4096)
        w, h = np.maximum(np.round(size * scale), 1).astype(int)
        local = (v - np.array([lo[0], lo[1], 0.0])) * scale
        face_id, _, _ = rasterize(local, self._faces, int(w), int(h))
        inside = face_id >= 0
        rgba = np.zeros((h, w, 4), np.uint8)
        rgba[..., :3] = PART_COLOURS[self._face_part[face_id]] if by_part else (80, 200, 255)
        rgba[..., 3] = inside * int(self.alpha.value() * 2.55)
        self.silhouette_item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.silhouette_item.setRect(QRectF(float(lo[0]), float(lo[1]), w / scale, h / scale))

    # ---- interaction -------------------------------------------------------------------------------------
    def _keypoint_moving(self, k: int, x: float, y: float) -> None:
        if self.scene_data is not None:
            self._draw_keypoints(self.scene_data.keypoints, (k, x, y))

    def _keypoint_moved(self, k: int, x: float, y: float) -> None:
        if self.scene_data is not None:  # the editor changes the scene, so it can record the position before
            self.keypointMoved.emit(k, x, y)

    def _points_clicked(self, _item, points, *_) -> None:
        if self.edit_mode == "delete_points" and len(points):
            self.densePointClicked.emit(int(points[0].data()))

    def _scene_clicked(self, ev) -> None:
        if self.edit_mode != "add_point" or ev.button() != Qt.MouseButton.LeftButton:
            return
        p = self.viewbox.mapSceneToView(ev.scenePos())
        self.imageClicked.emit(float(p.x()), float(p.y()))
        ev.accept()

    def grab_point(self, x: float, y: float) -> QPoint:
        """Coordinates in `graphics.viewport()` of image point (x, y) (for tests and scripted clicks)."""
        scene_pos = self.viewbox.mapViewToScene(QPointF(x, y))
        return self.graphics.mapFromScene(scene_pos)


def _iuv_to_rgb(iuv: np.ndarray) -> np.ndarray:
    """(H, W, 3) [I, U*255, V*255] -> (H, W, 4) RGBA: part colour, transparent background."""
    part = iuv[..., 0].astype(np.int64).clip(0, 24)
    rgba = np.zeros((*part.shape, 4), np.uint8)
    rgba[..., :3] = PART_COLOURS[part]
    rgba[..., 3] = np.where(part > 0, 255, 0)
    return rgba
