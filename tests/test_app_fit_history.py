"""Fit history in the app: a later fit never takes an accepted person's decision; the user chooses the current
fit (one undo step) and can compare two fits over the image."""

from __future__ import annotations

import numpy as np

from deformlearn.app.people_model import column_of
from deformlearn.core.project.store import FitRecord, Project
from tests.app_support import person_params


def test_a_round_after_an_accept_keeps_the_accepted_fit_and_the_user_chooses(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(0)
    pid = win.people.current_person()
    win.accept_current()
    with Project.open(small_project) as other:  # what a later round writes: a new fit of the accepted person
        accepted_fit = other.current_fit(pid).id
        params = person_params(np.random.default_rng(5))
        params["translation"] = params["translation"] + 0.2  # visibly elsewhere
        newer = other.save_fits([FitRecord(pid, 1, params, {"error": 9.0, "quality": "poor"}, "converged")])[0]
    win.people.reload()
    win.people.select_person(pid)
    history = win.fit_history
    assert win.scene.pid == pid and history.current_id == accepted_fit
    assert history.summary.text().startswith("accepted fit from round 0 is current; newer fit from round 1 unreviewed")
    review_column = column_of("status")
    assert win.people.model.data(win.people.model.index(win.people.current_row(), review_column)) == "accepted"
    assert [history.table.item(r, 0).text() for r in range(2)] == [str(newer), str(accepted_fit)]  # newest first
    assert history.table.item(0, 4).text() == "poor" and history.table.item(1, 6).text() == "current"

    assert not history.make_current_button.isEnabled()
    history.select_fit(newer)
    history.compare_button.setChecked(True)  # the newer fit as a wireframe beside the current one
    x, _ = win.image_view.compare_item.getData()
    assert x is not None and len(x) > 0
    wire_x = np.asarray(x)
    history.make_current_button.click()
    with Project.open(small_project) as other:
        assert other.current_fit(pid).id == newer and other.person(pid).status == "unreviewed"
        assert other.fit(accepted_fit).review_status == "accepted"  # the decision stays with its fit
    assert win.fit_history.current_id == newer and win.scene.metrics["error"] == 9.0
    assert win.image_view.compare_item.getData()[0] is None or len(win.image_view.compare_item.getData()[0]) == 0
    win.undo()
    with Project.open(small_project) as other:
        assert other.current_fit(pid).id == accepted_fit and other.person(pid).status == "accepted"
    assert win.scene.pid == pid and win.fit_history.current_id == accepted_fit
    win.redo()
    assert win.fit_history.current_id == newer and len(wire_x) > 0
