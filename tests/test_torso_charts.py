"""Torso charts by arc length around the body (core/body/charts.torso_arc_v) and re-charting the shipped template
without anny (resources/rechart_template.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from deformlearn.core.body.charts import torso_arc_v
from deformlearn.core.body.model import BodyModel
from deformlearn.resources.rechart_template import rechart


def test_torso_arc_v_is_a_monotone_remap_of_the_linear_chart() -> None:
    v = np.linspace(0.0, 1.0, 201)
    np.testing.assert_allclose(torso_arc_v(v, 0.0), v, atol=1e-3)  # a flat torso: arc length is x
    # a round torso: arc length is the angle about the axis, x = sin(angle)
    np.testing.assert_allclose(torso_arc_v(v, 1.0), 0.5 - np.arcsin(1 - 2 * v) / np.pi, atol=1e-3)
    deep = torso_arc_v(v, 0.67)
    assert np.all(np.diff(deep) > 0)
    np.testing.assert_allclose(deep[[0, 100, 200]], [0.0, 0.5, 1.0], atol=1e-9)
    assert deep[16] > 0.12  # the flanks take a larger share of V than in a frontal view (v = 0.08)


@pytest.fixture(scope="module")
def recharted(builtin_template):
    return rechart(builtin_template)


def test_recharted_torso_keeps_its_orientation_and_span(builtin_template, recharted) -> None:
    t = recharted
    np.testing.assert_array_equal(t.vertex_part, builtin_template.vertex_part)
    uv = t.vertex_uv[t.faces].astype(np.float64)
    a, b = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    area = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    for part, sign in ((1, 1), (2, -1)):  # DensePose's chart signs: back seen from outside, front mirrored
        assert np.mean(np.sign(area[t.face_part == part]) == sign) > 0.98
        chart = t.vertex_uv[t.vertex_part == part]
        assert chart.min() >= 0 and chart.max() <= 1 and chart.min(0).max() < 0.02 and chart.max(0).min() > 0.98
    others = ~np.isin(t.vertex_part, (1, 2))
    np.testing.assert_allclose(t.vertex_uv[others], builtin_template.vertex_uv[others], atol=1e-4)


def test_the_shipped_torso_reads_as_densepose_does_on_the_side_lines(builtin_template, recharted) -> None:
    """On DensePose's output V is about 0.22-0.25 on the line from the left shoulder to the left hip (body-left);
    a chart linear in x gave 0.08 there. The shipped template holds the arc-length chart: re-charting it with
    today's charts.py changes nothing."""
    np.testing.assert_allclose(recharted.vertex_uv, builtin_template.vertex_uv, atol=1e-5)
    k = BodyModel(builtin_template).rest_output(1).keypoints[0].numpy()
    x, y = builtin_template.rest_vertices[:, 0], builtin_template.rest_vertices[:, 1]
    t = (y - k[5, 1]) / (k[11, 1] - k[5, 1])  # 0 at the left shoulder's height, 1 at the left hip's
    line = k[5, 0] + t * (k[11, 0] - k[5, 0])
    on_line = (builtin_template.vertex_part == 2) & (t > 0.2) & (t < 0.8) & (np.abs(x - line) < 0.01)
    assert on_line.sum() > 5
    assert builtin_template.vertex_uv[on_line, 1].mean() > 0.1


def test_rechart_refuses_a_template_cut_differently(builtin_template) -> None:
    parts = builtin_template.vertex_part.copy()
    parts[builtin_template.faces[builtin_template.face_part == 9][:40].ravel()] = 10
    with pytest.raises(ValueError, match="build_template.py"):
        rechart(replace(builtin_template, vertex_part=parts))
