"""Honest fit status in the people list and the gallery: the fit column says whether the optimiser converged,
the quality column shows the store's verdict (coloured, its flags as the tooltip), the filter picks verdicts,
and gallery tiles carry the verdict."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from deformlearn.app.people_model import QUALITY_COLOURS, ROW_ROLE, column_of
from deformlearn.core.project.store import FitRecord, Project

FIT_COLUMN = column_of("fit_status")
QUALITY_COLUMN = column_of("fit_quality")


def add_judged_fits(root) -> dict[str, int]:
    """Give people 4, 5, 6 of the small project fits like core's pipeline writes: a converged good one, a
    33 px poor one that hit the step limit, and a degenerate one; returns verdict -> person id."""
    params = {"pose": np.zeros((23, 3), np.float32), "scales": np.ones(24, np.float32),
              "rotation": np.eye(3, dtype=np.float32), "scale": np.array(0.9, np.float32),
              "translation": np.zeros(2, np.float32)}
    metrics = {
        4: {"error": 1.5, "converged": 1.0, "quality": "good", "quality_flags": ""},
        5: {"error": 33.0, "converged": 0.0, "quality": "poor", "quality_flags": "dense_residual,implausible_pose"},
        6: {"error": 0.0, "converged": 1.0, "quality": "degenerate", "quality_flags": "points_at_one_spot,scale_collapse"},
    }
    with Project.open(root) as project:
        project.save_fits([FitRecord(pid, 1, params, m, "converged") for pid, m in metrics.items()])
    return {m["quality"]: pid for pid, m in metrics.items()}


def test_fit_and_quality_columns_say_what_is_true(make_window, small_project) -> None:
    by_quality = add_judged_fits(small_project)
    win = make_window(small_project)
    model = win.people.model
    row = {model.person_id(r): r for r in range(model.rowCount())}
    cell = lambda pid, col, role=Qt.ItemDataRole.DisplayRole: model.data(model.index(row[pid], col), role)  # noqa: E731
    assert [model.headerData(c, Qt.Orientation.Horizontal) for c in (FIT_COLUMN, QUALITY_COLUMN)] == ["fit", "quality"]
    good, poor, degenerate = by_quality["good"], by_quality["poor"], by_quality["degenerate"]
    assert cell(good, FIT_COLUMN) == "converged"
    assert cell(poor, FIT_COLUMN) == "step limit"  # a 33 px fit that did not converge is not called converged
    assert cell(1, FIT_COLUMN) == "fitted" and cell(1, QUALITY_COLUMN) == "—"  # no converged metric, no verdict
    assert "ran all its steps" in cell(poor, FIT_COLUMN, Qt.ItemDataRole.ToolTipRole)
    assert [cell(p, QUALITY_COLUMN) for p in (good, poor, degenerate)] == ["good", "poor", "degenerate"]
    for pid, verdict in ((good, "good"), (poor, "poor"), (degenerate, "degenerate")):
        assert cell(pid, QUALITY_COLUMN, Qt.ItemDataRole.ForegroundRole).color().name() == QUALITY_COLOURS[verdict]
    tip = cell(poor, QUALITY_COLUMN, Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("quality poor") and "anatomical ranges" in tip and "poor threshold" in tip
    assert "camera scale collapsed" in cell(degenerate, QUALITY_COLUMN, Qt.ItemDataRole.ToolTipRole)
    assert "nothing flagged" in cell(good, QUALITY_COLUMN, Qt.ItemDataRole.ToolTipRole)
    # the gallery's tiles (the name column) carry the whole story as their tooltip
    assert "fit: step limit" in cell(poor, column_of("name"), Qt.ItemDataRole.ToolTipRole)
    win.people.select_person(poor)  # the image view's info line says the same
    assert "— step limit — error 33 px" in win.image_view.info.text()
    # a new fit of that person re-reads its facts (the cache follows the row)
    with Project.open(small_project) as other:
        other.save_fits([FitRecord(poor, 2, other.current_fit(poor).params,
                                   {"error": 3.0, "converged": 1.0, "quality": "good", "quality_flags": ""},
                                   "converged")], make_current=True)
    model.update_row(poor)
    assert cell(poor, FIT_COLUMN) == "converged" and cell(poor, QUALITY_COLUMN) == "good"


def test_quality_filter_and_gallery_tiles(make_window, small_project) -> None:
    from deformlearn.app.gallery import tile_caption

    by_quality = add_judged_fits(small_project)
    win = make_window(small_project)
    panel, model = win.people, win.people.model
    texts = [panel.fit_status.itemText(i) for i in range(panel.fit_status.count())]
    assert texts == ["all", "unfitted", "fitted", "failed", "", "good", "poor", "degenerate"]  # "" is the separator
    for verdict, pid in by_quality.items():
        panel.fit_status.setCurrentText(verdict)
        assert [model.person_id(r) for r in range(model.rowCount())] == [pid]
        assert panel.count_label.text() == "1 of 6 people"
        assert tile_caption(model.data(model.index(0, column_of("name")), ROW_ROLE)).split(" · ")[1] == verdict
    panel.fit_status.setCurrentText("fitted")
    assert model.rowCount() == 6
    # the quality header sorts best first: good, poor, degenerate, then the unjudged fits (by id)
    panel.table.sortByColumn(QUALITY_COLUMN, Qt.SortOrder.AscendingOrder)
    order = [model.person_id(r) for r in range(6)]
    assert order[:3] == [by_quality["good"], by_quality["poor"], by_quality["degenerate"]]
    assert panel.table.horizontalHeader().sortIndicatorSection() == QUALITY_COLUMN
    # the poor person's tile carries an orange badge in its crop's top-left corner; an unjudged tile none
    panel.fit_status.setCurrentText("all")
    win.central_tabs.setCurrentWidget(win.gallery)
    image = win.gallery.viewport().grab().toImage()
    for pid, colour in ((by_quality["poor"], QUALITY_COLOURS["poor"]), (1, None)):
        rect = win.gallery.visualRect(model.index(model.row_of(pid), column_of("name")))
        pixel = image.pixelColor(rect.left() + 3 + 3 + 4, rect.top() + 3 + 3 + 4).name()
        assert (pixel == colour) if colour else pixel not in QUALITY_COLOURS.values()


def test_keypoint_only_people_never_show_a_dense_error_of_0_px(make_window, small_project) -> None:
    from deformlearn.app.gallery import tile_caption

    with Project.open(small_project) as project:  # a keypoint-only person, fitted as core's pipeline stores it
        image_id = project.person(1).image_id
        keypoints = project.person(1).keypoints
        pid = project.add_person(image_id, bbox=np.array([60, 10, 200, 220], np.float32), keypoints=keypoints,
                                 dense=None, source_key="kp-only", name="kp only")
        project.save_fits([FitRecord(pid, 1, project.current_fit(1).params,
                                     {"error": 0.0, "keypoint_error_px": 5.5, "num_points": 0.0, "converged": 1.0,
                                      "quality": "good", "quality_flags": ""}, "converged")])
    win = make_window(small_project)
    model = win.people.model
    row = model.row_of(pid)
    error_column = column_of("fit_error")
    assert model.data(model.index(row, error_column)) == "kp only"
    assert "keypoints alone" in model.data(model.index(row, error_column), Qt.ItemDataRole.ToolTipRole)
    assert tile_caption(model.data(model.index(row, column_of("name")), ROW_ROLE)) == "keypoints only · good"
    win.people.select_person(pid)
    assert "keypoint error 5.5 px" in win.image_view.info.text() and "— error 0" not in win.image_view.info.text()
    # no stored error (not 0 px): sorting by error lists it after every fitted person, in either direction
    assert model.data(model.index(row, error_column), ROW_ROLE).fit_error is None
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        win.people.table.sortByColumn(error_column, order)
        errors = [model.data(model.index(r, error_column), ROW_ROLE).fit_error for r in range(model.rowCount())]
        fitted = [e for e in errors if e is not None]
        assert errors[:len(fitted)] == sorted(fitted, reverse=order == Qt.SortOrder.DescendingOrder)
        assert model.row_of(pid) >= len(fitted) and len(fitted) == 3


def test_tile_captions_never_say_converged() -> None:
    from deformlearn.app.gallery import tile_caption
    from deformlearn.core.project.records import PersonRow

    def row(fit_status, fit_error, num_points=40, quality=None, status="unreviewed") -> PersonRow:
        return PersonRow(1, 1, "a.jpg", "a", num_points, 17, None, status, fit_status, fit_error, quality)

    assert tile_caption(row(None, None)) == "not fitted"
    assert tile_caption(row("converged", 3.21, quality="good", status="accepted")) == "3.2 px · good · accepted"
    # a fit that ran but stored no error (the store's status is "converged" whether or not it converged)
    assert tile_caption(row("converged", None)) == "fitted"
    assert tile_caption(row("failed", 250.0, quality="degenerate")) == "failed · degenerate"
    assert tile_caption(row("converged", 0.0, num_points=0, quality="good")) == "keypoints only · good"


def test_a_row_the_change_moves_in_the_sort_shows_the_new_fit(make_window, small_project) -> None:
    by_quality = add_judged_fits(small_project)
    win = make_window(small_project)
    panel, model = win.people, win.people.model
    panel.table.sortByColumn(QUALITY_COLUMN, Qt.SortOrder.AscendingOrder)
    good = by_quality["good"]
    assert model.row_of(good) == 0  # good, poor, degenerate, then the unjudged
    with Project.open(small_project) as other:  # a re-fit judged degenerate: it sorts after the poor one now
        other.save_fits([FitRecord(good, 2, other.current_fit(good).params,
                                   {"error": 40.0, "converged": 0.0, "quality": "degenerate",
                                    "quality_flags": "scale_collapse"}, "converged")], make_current=True)
    model.update_row(good)
    # was: only the review status was patched, so the row said 'good' and 1.5 px beside a 'step limit' fit
    assert model.row_of(good) == 0  # it stays put until the next refresh
    assert [model.data(model.index(0, c)) for c in (QUALITY_COLUMN, FIT_COLUMN)] == ["degenerate", "step limit"]
    error_column = column_of("fit_error")
    assert model.data(model.index(0, error_column)) == "40"


def test_every_quality_flag_has_plain_words() -> None:
    from deformlearn.app.people_model import FLAG_TEXT
    from deformlearn.core.registration.quality import QUALITY_FLAGS

    assert set(FLAG_TEXT) == set(QUALITY_FLAGS)
