"""Charts: labelled axes, a colour per series (curves and per-round markers alike), and a legend beside the
data that is never cut: what does not fit its column is counted ("+ k more") and listed in its tooltip."""

from __future__ import annotations

import numpy as np


def test_legend_never_cuts_an_entry_and_markers_take_their_series_colour(qtbot) -> None:
    from deformlearn.app.charts import LegendPlot

    chart = LegendPlot("error per round", "round", "error (mm)", "no finished round yet")
    qtbot.addWidget(chart)
    chart.resize(500, 140)
    chart.show()
    qtbot.waitExposed(chart)
    # empty: no made-up tick numbers, and the legend column says why
    assert "no finished round yet" in chart.legend.text()
    assert not any(chart.plot.getAxis(a).style["showValues"] for a in ("left", "bottom"))
    names = [f"metric_{k}_mm" for k in range(12)]
    for k, name in enumerate(names):
        chart.set_series(name, np.array([1.0, 2.0]), np.array([k, k + 1.0]), markers=True)
    assert chart.plot.getAxis("bottom").labelText == "round" and chart.plot.getAxis("left").labelText == "error (mm)"
    items = chart.plot.listDataItems()
    pens = [item.opts["pen"].color().name() for item in items]
    brushes = [item.opts["symbolBrush"].color().name() for item in items]
    assert len(set(pens)) == 12 and brushes == pens  # each round marker in its own series' colour
    shown = chart.legend.text().split("<br>")
    line = chart.legend.fontMetrics().lineSpacing()
    assert len(shown) * line <= chart.legend.height() < 12 * line  # what is shown fits; not everything does
    assert "more (hover)" in shown[-1] and f"+ {12 - len(shown) + 1} more" in shown[-1]
    assert all(name in chart.legend.toolTip() for name in names)
    assert chart.legend.geometry().left() >= chart.widget.geometry().right()
    chart.resize(500, 600)  # tall enough: every entry, nothing counted
    qtbot.waitUntil(lambda: "more" not in chart.legend.text(), timeout=2000)
    assert all(name in chart.legend.text() for name in names)
    assert all(chart.plot.getAxis(a).style["showValues"] for a in ("left", "bottom"))
    chart.clear_series()
    assert "no finished round yet" in chart.legend.text() and chart.names() == []
    assert not chart.plot.getAxis("left").style["showValues"]
