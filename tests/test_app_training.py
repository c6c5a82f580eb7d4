"""Training panel: a round runs in a worker process, reports progress per stage, and can be cancelled."""

from __future__ import annotations

import json

import pytest


def test_progress_lines_fill_stage_bars_curves_and_log(make_window, qtbot) -> None:
    win = make_window()
    panel = win.training
    win.work_tabs.setCurrentWidget(panel)
    panel.handle_line(json.dumps({"event": "progress", "round": 1, "stage": "cgan", "step": 5, "total": 50,
                                  "losses": {"generator": 0.7, "discriminator": 0.6}, "eta_s": 75.0}))
    panel.handle_line(json.dumps({"event": "progress", "round": 1, "stage": "cgan", "step": 10, "total": 50,
                                  "losses": {"generator": 0.5, "discriminator": None}, "eta_s": 60.0}))
    bar, eta = panel.stages["cgan"]
    assert (bar.value(), bar.maximum(), eta.text()) == (10, 50, "ETA 1:00")
    panel.handle_line(json.dumps({"event": "progress", "round": 1, "stage": "registration", "step": 1,
                                  "total": 4, "losses": {"total": 2.0}, "eta_s": None}))
    panel.handle_line("a plain log line")
    panel.handle_line(json.dumps({"event": "round_done", "round": 1, "metrics": {"mpjpe_mm": 101.5}}))
    assert bar.value() == bar.maximum() == 50  # the next stage began: this one is over
    assert panel.stages["registration"][0].maximum() == 4
    assert set(panel.loss_plot.names()) == {"cgan/generator", "cgan/discriminator", "registration/total"}
    pens = {item.opts["pen"].color().name() for item in panel.loss_plot.plot.listDataItems()}
    assert len(pens) == 3  # a colour per curve
    assert panel.loss_plot.plot.getAxis("left").labelText and panel.loss_plot.plot.getAxis("bottom").labelText
    # the legend is a column beside the plot, not over the data, and names every curve
    qtbot.waitUntil(lambda: panel.loss_plot.legend.geometry().left() > 0, timeout=2000)
    legend, plot = panel.loss_plot.legend, panel.loss_plot.widget
    assert legend.geometry().left() >= plot.geometry().right()
    assert all(name in legend.text() for name in panel.loss_plot.names())
    assert len(panel._history["cgan/generator"]) == 2 and len(panel._history["cgan/discriminator"]) == 1
    log = panel.log.toPlainText()
    assert "a plain log line" in log and "round 1 done: mpjpe_mm 101.5" in log


def test_round_in_worker_process_reports_progress_and_cancels(make_window, tmp_path, qtbot) -> None:
    from tests.round_project import make_round_project

    make_round_project(tmp_path / "rp", n=8).close()
    win = make_window(tmp_path / "rp")
    panel = win.training
    events: list[dict] = []
    panel.eventReceived.connect(events.append)
    with qtbot.waitSignal(panel.eventReceived, timeout=180_000):
        panel.run_button.click()
    assert panel.is_running() and panel.cancel_button.isEnabled()
    assert events[0]["event"] == "progress" and events[0]["stage"] in panel.stages
    with qtbot.waitSignal(panel.roundFinished, timeout=60_000) as finished:
        panel.cancel_button.click()
    assert finished.args[0] in (130, -1)
    assert panel.state.text().startswith("cancelled") and panel.resume_button.isEnabled()
    # the window and the project survive: the list still reads and the round is resumable
    assert win.people.model.rowCount() == 8
    assert any(r.finished_at is None for r in win.project.rounds())


def test_round_metrics_chart_plots_error_metrics_per_round(make_window, small_project) -> None:
    win = make_window(small_project)
    win.training.show_round_metrics(win.project)  # no finished round: no table, the chart says so
    assert win.training.metrics_table.isHidden() and "no finished round" in win.training.metrics_plot.legend.text()
    for index, mpjpe in ((1, 150.0), (2, 120.0)):
        win.project.start_round(index)
        win.project.update_round(index, metrics={"registration_mpjpe_mm": mpjpe, "num_test_people": 3,
                                                 "settings": {"lr_px": 1.0}}, finished=True)
        win.project.update_round(index, metrics={"regressor_mpjpe_mm": mpjpe + 30})
    win.training.show_round_metrics(win.project)
    assert win.training.metrics_plot.names() == ["registration_mpjpe_mm", "regressor_mpjpe_mm"]
    curves = win.training.metrics_plot.plot.listDataItems()
    x, y = curves[0].getData()
    assert list(x) == [1, 2] and list(y) == [150.0, 120.0]
    assert len({c.opts["symbolBrush"].color().name() for c in curves}) == 2  # markers coloured per metric
    table = win.training.metrics_table
    assert not table.isHidden() and (table.rowCount(), table.columnCount()) == (2, 2)
    assert [table.horizontalHeaderItem(j).text() for j in range(2)] == ["round 1", "round 2"]
    assert table.verticalHeaderItem(1).text() == "regressor_mpjpe_mm" and table.item(1, 1).text() == "150"


def test_round_settings_reach_the_command_and_the_log_stays_with_its_project(make_window, small_project,
                                                                             tmp_path, tiny_template) -> None:
    from deformlearn.app.training_panel import LOG_FILE, round_command
    from tests.app_support import make_project

    win = make_window(small_project)
    panel = win.training
    panel.preset.setCurrentText("paper")
    panel.rounds.setValue(3)
    panel.regressor_input.setCurrentText("iuv")
    panel.only_accepted.setChecked(True)
    args = round_command("P", True, panel.options())
    assert args[3:] == ["P", "--progress-json", "--preset", "paper", "--rounds", "3", "--input", "iuv",
                        "--only-accepted", "--resume"]
    assert "--input" not in round_command("P")
    panel.handle_line("a line of the first project")
    assert "a line of the first project" in (small_project / LOG_FILE).read_text()
    win.open_project(make_project(tmp_path / "other", tiny_template, n_people=2))
    assert "first project" not in panel.log.toPlainText()
    win.open_project(small_project)
    assert "a line of the first project" in panel.log.toPlainText()


def test_a_round_that_cannot_start_is_a_dialog(make_window, small_project, qtbot, app_errors) -> None:
    win = make_window(small_project)
    win.project.start_round(1)  # an interrupted round: a plain "Run round" must be told to resume
    with qtbot.waitSignal(win.training.roundFinished, timeout=180_000) as finished:
        win.training.run_button.click()
    assert finished.args[0] == 2
    title, text = app_errors[-1]
    assert title == "The round stopped" and "interrupted" in text and "Resume" in text
    assert win.training.resume_button.isEnabled()


def test_round_settings_offer_the_regressor_architecture(make_window, small_project) -> None:
    from deformlearn.app.training_panel import ARCHITECTURE_CHOICES, RoundOptions, round_command

    panel = make_window(small_project).training
    items = [panel.architecture.itemText(i) for i in range(panel.architecture.count())]
    assert items == list(ARCHITECTURE_CHOICES) and panel.architecture.currentText() == "preset"
    from deformlearn.core.regressor import ARCHITECTURES
    assert set(ARCHITECTURE_CHOICES) == {"preset", *ARCHITECTURES}
    assert "--architecture" not in round_command("P", options=panel.options())
    panel.regressor_input.setCurrentText("rgb")
    panel.architecture.setCurrentText("nbf")
    assert not panel.regressor_input.isEnabled() and panel.regressor_input.currentText() == "preset"
    panel.rounds.setValue(2)
    args = round_command("P", options=panel.options())
    assert args[3:] == ["P", "--progress-json", "--preset", "cpu-demo", "--rounds", "2", "--architecture", "nbf"]
    panel.architecture.setCurrentText("convnet")
    panel.regressor_input.setCurrentText("iuv")
    assert panel.regressor_input.isEnabled()
    assert round_command("P", options=panel.options())[-4:] == ["--architecture", "convnet", "--input", "iuv"]
    with pytest.raises(ValueError, match="convnet's crop"):
        RoundOptions(regressor_input="rgb", architecture="pointset")
