"""One undo stack: every review decision, bulk action and annotation edit undoes and redoes in order."""

from __future__ import annotations

import numpy as np

from deformlearn.app.people_model import column_of
from deformlearn.core.project.store import Project


def _status(project_dir, pid: int) -> str:
    with Project.open(project_dir) as p:
        return p.person(pid).status


def _annotation(project_dir, pid: int):
    with Project.open(project_dir) as p:
        rec = p.person(pid)
        return rec.keypoints, (np.zeros((0, 2)) if rec.dense is None else rec.dense.xy)


def test_review_accept_reject_and_bulk_undo_and_redo(make_window, small_project) -> None:
    win = make_window(small_project)
    first = win.people.current_person()
    win.accept_current()
    second = win.people.current_person()
    win.reject_current()
    win.reject_over_threshold(1.5)  # errors are 1, 2, 3 px: people 2 and 3
    assert [_status(small_project, p) for p in (1, 2, 3)] == ["accepted", "rejected", "rejected"]
    win.undo()  # the bulk step as a whole: person 2 is back to its own reject, 3 to unreviewed
    assert [_status(small_project, p) for p in (1, 2, 3)] == ["accepted", "rejected", "unreviewed"]
    win.undo()
    assert _status(small_project, second) == "unreviewed" and win.people.current_person() == second
    win.undo()
    assert _status(small_project, first) == "unreviewed" and win.people.current_person() == first
    assert not win.actions_by_name["undo"].isEnabled() and win.actions_by_name["redo"].isEnabled()
    win.actions_by_name["redo"].trigger()
    win.actions_by_name["redo"].trigger()
    assert (_status(small_project, first), _status(small_project, second)) == ("accepted", "rejected")
    win.redo()
    assert _status(small_project, 3) == "rejected"
    review_column = column_of("status")
    assert win.people.model.data(win.people.model.index(2, review_column)) == "rejected"  # the list follows


def test_keypoint_drag_undo_is_not_an_earlier_reject(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(0)
    rejected = win.people.current_person()
    win.reject_current()  # moves on to the next person
    pid = win.people.current_person()
    kp_before, _ = _annotation(small_project, pid)
    win.actions_by_name["edit_keypoints"].trigger()
    win.image_view._keypoint_moved(3, 11.0, 22.0)  # the end of a drag
    np.testing.assert_allclose(_annotation(small_project, pid)[0][3, :2], [11.0, 22.0])
    win.actions_by_name["undo"].trigger()
    np.testing.assert_allclose(_annotation(small_project, pid)[0], kp_before)
    np.testing.assert_allclose(win.scene.keypoints, kp_before)
    assert _status(small_project, rejected) == "rejected" and win.scene.pid == pid
    assert "move keypoint" in win.actions_by_name["redo"].text()
    win.redo()
    np.testing.assert_allclose(_annotation(small_project, pid)[0][3, :2], [11.0, 22.0])
    win.undo()
    win.undo()  # now the reject
    assert _status(small_project, rejected) == "unreviewed" and win.people.current_person() == rejected


def test_delete_and_add_point_undo_and_redo_from_another_person(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(1)
    pid = win.scene.pid
    _, xy0 = _annotation(small_project, pid)
    win.editor.set_mode("delete_points")
    win.editor.delete_point(5)
    win.editor.set_mode("add_point")
    win.editor._image_clicked(100.0, 90.0)
    win.editor.add_correspondence(7)
    _, xy2 = _annotation(small_project, pid)
    assert len(xy2) == len(xy0) and np.allclose(xy2[-1], [100.0, 90.0])
    assert not np.any(np.all(np.isclose(xy2, xy0[5]), axis=1))
    win.people.select_row(4)  # undo from elsewhere shows the person it changes
    win.undo()
    assert win.scene.pid == pid
    _, xy1 = _annotation(small_project, pid)
    assert len(xy1) == len(xy0) - 1 and len(win.scene.dense_xy) == len(xy1)
    win.undo()
    np.testing.assert_allclose(_annotation(small_project, pid)[1], xy0)
    with Project.open(small_project) as p:  # the restored points map to vertices again
        assert len(p.correspondences(pid, win.loader.template_key)[0]) == len(xy0)
    win.redo()
    win.redo()
    np.testing.assert_allclose(_annotation(small_project, pid)[1], xy2)


def test_opening_another_project_clears_the_stack(make_window, small_project, tmp_path, tiny_template) -> None:
    from tests.app_support import make_project

    win = make_window(small_project)
    win.accept_current()
    assert win.actions_by_name["undo"].isEnabled()
    win.open_project(make_project(tmp_path / "other", tiny_template, n_people=2))
    assert not win.actions_by_name["undo"].isEnabled() and win.undo_stack.count() == 0


def test_bulk_accept_of_the_selection_is_one_step(make_window, small_project) -> None:
    from PySide6.QtCore import QItemSelectionModel

    win = make_window(small_project)
    selection = win.people.table.selectionModel()
    for row in (1, 3, 4):
        selection.select(win.people.model.index(row, 0),
                         QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    picked = win.people.selected_people()
    assert len(picked) >= 3
    win.actions_by_name["accept_selected"].trigger()
    assert all(_status(small_project, p) == "accepted" for p in picked)
    assert f"accept {len(picked)} people" in win.actions_by_name["undo"].text()
    win.undo()
    assert all(_status(small_project, p) == "unreviewed" for p in picked)
