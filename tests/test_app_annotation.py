"""Annotation editing: drag a keypoint, delete a dense point, add a correspondence by two clicks, re-fit."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from deformlearn.core.project.store import Project


def _stored(project_dir, pid, key):
    with Project.open(project_dir) as p:
        rec = p.person(pid)
        return rec, p.correspondences(pid, key)


def test_drag_keypoint_and_delete_point_are_saved(make_window, small_project, qtbot, app_errors) -> None:
    win = make_window(small_project)
    win.people.select_row(0)
    pid, key = win.scene.pid, win.loader.template_key
    win.actions_by_name["edit_keypoints"].trigger()
    assert win.image_view.keypoint_item.editable
    win.image_view._keypoint_moved(0, 12.5, 34.0)  # what the end of a drag calls
    rec, _ = _stored(small_project, pid, key)
    np.testing.assert_allclose(rec.keypoints[0, :2], [12.5, 34.0])

    win.actions_by_name["edit_delete_points"].trigger()
    xy = win.scene.dense_xy
    gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy)) * 1e9
    x, y = xy[np.argmax(gaps.min(1))]  # the most isolated point, so the click cannot hit a neighbour
    qtbot.mouseClick(win.image_view.graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=win.image_view.grab_point(x, y))
    rec, corr = _stored(small_project, pid, key)
    assert len(rec.dense) == 39 and len(corr[0]) == 39
    assert not np.any(np.all(np.isclose(rec.dense.xy, [x, y]), axis=1))  # the clicked point is the one gone
    assert app_errors == []


def test_add_correspondence_by_image_then_template_click_and_refit(make_window, small_project, qtbot) -> None:
    win = make_window(small_project)
    win.people.select_row(4)  # unfitted: the 3D view shows the template at rest
    pid, key = win.scene.pid, win.loader.template_key
    win.actions_by_name["edit_add_point"].trigger()
    win.editor._image_clicked(150.0, 120.0)  # what a click on the image sends
    canvas = win.viewport.canvas
    canvas.render_frame()
    target = 100
    sx, sy, _ = canvas.camera.to_screen(canvas.vertices[[target]], canvas.width(), canvas.height())[0]
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(round(sx), round(sy)))
    rec, corr = _stored(small_project, pid, key)
    assert len(rec.dense) == 41
    np.testing.assert_allclose(rec.dense.xy[-1], [150.0, 120.0])
    picked = corr[0][-1]
    assert np.linalg.norm(canvas.vertices[picked, :2] - canvas.vertices[target, :2]) < 0.05
    assert rec.dense.part[-1] == win.loader.template.vertex_part[picked]
    win.registration.steps.setValue(10)
    with qtbot.waitSignal(win.runner.finished, timeout=60_000):
        win.actions_by_name["refit"].trigger()
    with Project.open(small_project) as p:
        assert p.latest_fit(pid) is not None


def _send_mouse(widget, kind, pos, buttons) -> None:
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    button = Qt.MouseButton.LeftButton if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton
    local = QPointF(pos)
    event = QMouseEvent(kind, local, widget.mapToGlobal(local), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_dragging_a_keypoint_with_the_mouse_moves_and_saves_it(make_window, small_project, qtbot) -> None:
    from PySide6.QtCore import QEvent

    win = make_window(small_project)
    win.people.select_row(0)
    pid, key = win.scene.pid, win.loader.template_key
    win.actions_by_name["edit_keypoints"].trigger()
    qtbot.wait(50)
    kx, ky = win.scene.keypoints[0, :2]
    view = win.image_view
    start, end = view.grab_point(kx, ky), view.grab_point(kx + 15, ky + 10)
    port = view.graphics.viewport()
    _send_mouse(port, QEvent.Type.MouseButtonPress, start, Qt.MouseButton.LeftButton)
    for t in np.linspace(0.2, 1, 5):
        qtbot.wait(40)  # pyqtgraph drops mouse moves that come faster than its rate limit
        _send_mouse(port, QEvent.Type.MouseMove, start + (end - start) * float(t), Qt.MouseButton.LeftButton)
    _send_mouse(port, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)
    rec, _ = _stored(small_project, pid, key)
    np.testing.assert_allclose(rec.keypoints[0, :2], [kx + 15, ky + 10], atol=1.5)
    assert np.allclose(rec.keypoints[1:], win.scene.keypoints[1:])


def test_edit_mode_banner_pending_mark_and_part_mismatch_warning(make_window, small_project) -> None:
    from deformlearn.app.annotation_edit import image_part, part_mismatch

    win = make_window(small_project)
    view = win.image_view
    assert not view.mode_banner.isVisibleTo(view)
    win.actions_by_name["edit_keypoints"].trigger()
    assert view.mode_banner.isVisibleTo(view) and "drag a keypoint" in view.mode_banner.text()
    win.actions_by_name["edit_add_point"].trigger()
    s, template = win.scene, win.loader.template
    x, y = s.dense_xy[0]
    win.editor._image_clicked(float(x), float(y))  # on a dense point: the click takes that point's part
    px, py = view.pending_item.getData()
    assert (float(px[0]), float(py[0])) == (float(x), float(y))
    assert image_part(s, float(x), float(y)) == s.dense_part[0]
    assert part_mismatch(7, 9) == "" and "right upper leg" in part_mismatch(7, 2) and "torso" in part_mismatch(7, 2)
    assert part_mismatch(0, 2) == ""  # background / unknown: nothing to compare
    far = np.flatnonzero(template.vertex_part != s.dense_part[0])
    far = [v for v in far if part_mismatch(int(s.dense_part[0]), int(template.vertex_part[v]))][0]
    win.editor.add_correspondence(int(far))
    assert win.editor.last_warning and win.editor.last_warning in view.mode_banner.text()
    assert win.statusBar().currentMessage() == win.editor.last_warning  # a thigh point to the chest warns
    # the pair just made: its image point ringed, its vertex highlighted in the 3D view
    assert view.pending_item.getData()[0].tolist() == [float(x)] and view.pending_item.points()[0].symbol() == "o"
    assert win.viewport.picked == int(far)
    same = np.flatnonzero(template.vertex_part == s.dense_part[0])[0]
    win.editor._image_clicked(float(x), float(y))
    assert win.viewport.picked is None and view.pending_item.points()[0].symbol() == "+"
    win.editor.add_correspondence(int(same))
    assert win.editor.last_warning == "" and "Added a correspondence" in win.statusBar().currentMessage()
    # a vertex before any image point: highlighted, nothing added, and the status bar says what to do
    n_points = win.scene.num_points
    win.editor.add_correspondence(int(far))
    assert win.scene.num_points == n_points and win.viewport.picked == int(far)
    assert "click its point on the image first" in win.statusBar().currentMessage()
    win.people.select_row(1)  # another person: the pick is forgotten
    assert win.viewport.picked is None and win.editor.pending_xy is None
    win.actions_by_name["edit_view"].trigger()
    assert not view.mode_banner.isVisibleTo(view)
