"""Annotation editing: drag keypoints, delete dense points, add a correspondence (image point, then a template
vertex in the 3D view), and re-fit the person. Edits are saved at once through `Project.update_annotation`,
and each is one step of the window's undo stack (app/undo.py).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QAction, QActionGroup

from deformlearn.app.undo import AnnotationState, push_done
from deformlearn.core.body import COARSE_PART_NAMES, FINE_TO_COARSE_PART
from deformlearn.core.densepose import DensePoints

#: An image point takes the part of the nearest dense point within this many pixels (when there is no IUV image).
PART_FROM_NEIGHBOUR_PX = 12.0


def image_part(scene, x: float, y: float) -> int:
    """DensePose fine part (1..24) under image pixel (x, y): the IUV image's, else the nearest dense point's
    within PART_FROM_NEIGHBOUR_PX; 0 when unknown (background or nothing near)."""
    if scene.iuv is not None:
        h, w = scene.iuv.shape[:2]
        if 0 <= int(y) < h and 0 <= int(x) < w:
            return int(scene.iuv[int(y), int(x), 0])
    if scene.num_points:
        d = np.linalg.norm(scene.dense_xy - np.array([x, y]), axis=1)
        if d.min() <= PART_FROM_NEIGHBOUR_PX:
            return int(scene.dense_part[int(d.argmin())])
    return 0


def part_mismatch(image_fine_part: int, vertex_fine_part: int) -> str:
    """'' when an image point on `image_fine_part` may match a vertex on `vertex_fine_part` (same coarse body
    part, or the image part unknown), else a warning naming both (a thigh point matched to the chest)."""
    a, b = int(FINE_TO_COARSE_PART[image_fine_part]), int(FINE_TO_COARSE_PART[vertex_fine_part])
    if a == 0 or a == b:
        return ""
    on_image, on_body = (COARSE_PART_NAMES[c].replace("_", " ") for c in (a, b))
    return (f"The image point lies on the {on_image} but the chosen vertex is on the {on_body}: "
            "check the pair (Ctrl+Z removes it).")


def write_annotation(project, pid: int, keypoints: np.ndarray, dense_xy: np.ndarray, dense_part: np.ndarray,
                     dense_uv: np.ndarray, vertex_index: np.ndarray, template_key: str) -> np.ndarray:
    """Replace a person's keypoints (17, 3) and dense points (N, 2)/(N,)/(N, 2) in one transaction; return the
    (N,) template vertex stored for each point.

    The store recomputes the correspondences of the project's template; the vertices the user chose
    (vertex_index (N,) >= 0, -1 where none) then replace them under `template_key`, with a UV residual of 0
    where the choice differs from the chart look-up (the user picked the vertex)."""
    n = len(dense_xy)
    if vertex_index.shape != (n,):
        raise ValueError(f"person {pid}: {len(vertex_index)} vertices for {n} dense points")
    dense = DensePoints(xy=dense_xy, part=dense_part, uv=dense_uv)
    vertex_index = np.asarray(vertex_index, np.int64)
    with project.transaction():
        project.update_annotation(pid, keypoints=keypoints, dense=dense)
        if not n:
            return vertex_index
        computed = project.correspondences(pid, template_key)
        if computed is None:  # the view's template is not the project's: keep only the user's choices
            vertex, residual = vertex_index, np.zeros(n, np.float32)
        else:
            vertex = np.where(vertex_index >= 0, vertex_index, computed[0])
            residual = np.where(vertex == computed[0], computed[1], 0).astype(np.float32)
        project.set_correspondences(pid, template_key, vertex, residual)
    return vertex


class AnnotationEditor:
    """Edit modes and edit operations of one window (its image view, viewport and open project)."""

    MODES = (("view", "&View only"), ("keypoints", "Drag &keypoints"), ("delete_points", "&Delete points"),
             ("add_point", "&Add correspondence"))

    def __init__(self, win) -> None:
        self.win = win
        self.pending_xy: tuple[float, float] | None = None
        #: The warning about the last correspondence added ('' when its parts agree).
        self.last_warning = ""
        win.image_view.keypointMoved.connect(lambda k, x, y: win.guarded("Move keypoint", self.move_keypoint, k, x, y))
        win.image_view.densePointClicked.connect(lambda i: win.guarded("Delete point", self.delete_point, i))
        win.image_view.imageClicked.connect(self._image_clicked)
        win.viewport.vertexPicked.connect(lambda v: win.guarded("Add correspondence", self.add_correspondence, v))

    def set_mode(self, mode: str) -> None:
        self.pending_xy = None
        self.win.image_view.set_edit_mode(mode)
        self.win.viewport.set_picked(None)
        hints = {"keypoints": "Drag a keypoint to move it.", "delete_points": "Click a dense point to delete it.",
                 "add_point": "Click a point on the image, then the matching point on the body in the 3D view."}
        self.win.statusBar().showMessage(hints.get(mode, ""), 0 if mode != "view" else 1)

    def _save(self) -> None:
        s, win = self.win.scene, self.win
        s.dense_vertex = write_annotation(win.project, s.pid, s.keypoints, s.dense_xy, s.dense_part, s.dense_uv,
                                          s.dense_vertex, win.loader.template_key)
        s.compute_vertex_residual()
        win.image_view.redraw()
        win.viewport.set_marked(np.unique(s.dense_vertex[s.dense_vertex >= 0]))
        win.people.model.update_row(s.pid)

    def _edit(self, text: str, change) -> None:
        """Apply `change(scene)` to the shown person, save it, and push it as one undo step."""
        scene, project = self.win.scene, self.win.project
        before = AnnotationState.of_scene(scene)
        change(scene)
        self._save()
        after = AnnotationState.of_scene(scene)
        push_done(self.win.undo_stack, f"{text} (person {scene.pid})",
                  lambda forward: self._restore(project, scene.pid, after if forward else before), self.win)

    def _restore(self, project, pid: int, state: AnnotationState) -> None:
        """Write `state` as person `pid`'s annotation and show that person (undo / redo of an edit)."""
        if project is not self.win.project:
            raise RuntimeError("That edit belongs to a project that is no longer open.")
        if self.win.scene is None or self.win.scene.pid != pid:
            write_annotation(project, pid, state.keypoints, state.dense_xy, state.dense_part, state.dense_uv,
                             state.dense_vertex, self.win.loader.template_key)
            self.win.people.model.update_row(pid)
            if not self.win.people.select_person(pid):
                self.win.show_person(pid)  # filtered out of the list: show it anyway
            return
        s = self.win.scene
        s.keypoints, s.dense_xy, s.dense_part, s.dense_uv, s.dense_vertex = (
            state.keypoints.copy(), state.dense_xy.copy(), state.dense_part.copy(), state.dense_uv.copy(),
            state.dense_vertex.copy())
        self._save()

    def move_keypoint(self, k: int, x: float, y: float) -> None:
        if self.win.scene is None:
            return

        def change(s) -> None:
            s.keypoints[k, :2] = (x, y)

        self._edit(f"move keypoint {k}", change)

    def delete_point(self, i: int) -> None:
        s = self.win.scene
        if s is None or not 0 <= i < s.num_points:
            return

        def change(s) -> None:
            keep = np.arange(s.num_points) != i
            s.dense_xy, s.dense_part, s.dense_uv, s.dense_vertex = (s.dense_xy[keep], s.dense_part[keep],
                                                                    s.dense_uv[keep], s.dense_vertex[keep])

        self._edit("delete point", change)

    def forget_pick(self) -> None:
        """Drop the pending image point and the highlighted vertex (another person is shown)."""
        self.pending_xy = None
        self.win.viewport.set_picked(None)

    def _image_clicked(self, x: float, y: float) -> None:
        self.pending_xy = (x, y)
        self.win.image_view.set_pending_point(self.pending_xy)
        self.win.viewport.set_picked(None)
        self.win.statusBar().showMessage(f"Image point ({x:.1f}, {y:.1f}) chosen: now click the body in the 3D view.")

    def add_correspondence(self, vertex: int) -> None:
        """Pair the pending image point with template vertex `vertex` (its part and chart UV come along); the
        vertex stays highlighted in the 3D view and the image point ringed until the next click. Without a
        pending image point the vertex is highlighted and the status bar says to click the image first."""
        s, template = self.win.scene, self.win.loader.template if self.win.loader else None
        if self.win.image_view.edit_mode != "add_point" or s is None:
            return
        self.win.viewport.set_picked(vertex)
        if self.pending_xy is None:
            part = COARSE_PART_NAMES[int(FINE_TO_COARSE_PART[int(template.vertex_part[vertex])])].replace("_", " ")
            self.win.statusBar().showMessage(f"Vertex {vertex} ({part}) picked: click its point on the image first, "
                                             "then the body.", 0)
            return
        xy = self.pending_xy

        def change(s) -> None:
            s.dense_xy = np.vstack([s.dense_xy, np.array([xy])])
            s.dense_part = np.append(s.dense_part, template.vertex_part[vertex])
            s.dense_uv = np.vstack([s.dense_uv, template.vertex_uv[vertex][None].astype(np.float64)])
            s.dense_vertex = np.append(s.dense_vertex, vertex)

        self.last_warning = part_mismatch(image_part(s, *xy), int(template.vertex_part[vertex]))
        self.pending_xy = None
        self._edit("add correspondence", change)
        self.win.image_view.set_pending_point(xy, paired=True)
        if self.last_warning:
            self.win.image_view.show_warning(self.last_warning)
            self.win.statusBar().showMessage(self.last_warning, 0)
        else:
            self.win.statusBar().showMessage(f"Added a correspondence to vertex {vertex}; click the image for another.")

    def refit(self) -> None:
        if self.win.scene is None:
            raise RuntimeError("Select a person to re-fit.")
        self.win.people.select_person(self.win.scene.pid)
        self.win.fit("selected")


def install_edit_actions(win, menu) -> None:
    win.editor = AnnotationEditor(win)
    group = QActionGroup(win)
    for mode, text in AnnotationEditor.MODES:
        act = QAction(text, win, checkable=True)
        act.setObjectName(f"edit_{mode}")
        act.setChecked(mode == "view")
        act.triggered.connect(lambda _=False, m=mode: win.editor.set_mode(m))
        group.addAction(act)
        menu.addAction(act)
        win.actions_by_name[f"edit_{mode}"] = act
    menu.addSeparator()
    win.add_action(menu, "refit", "&Re-fit this person", win.editor.refit, ["Ctrl+F"])
