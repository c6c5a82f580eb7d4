"""The quality verdict's flags: trunk in depth (25 degrees for a trunk upright in the image, 45 otherwise),
dense points on too few parts without keypoints, a mesh far outside the person's box."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deformlearn.core.body.model import BodyModel
from deformlearn.core.registration.data import PersonTargets
from deformlearn.core.registration.fitter import PersonFit
from deformlearn.core.registration.quality import (
    QualityRules,
    judge_fit,
    trunk_image_tilt_deg,
    trunk_pitch_deg,
)

FRONTAL = np.diag([1.0, -1.0, -1.0])  # body frame (y up, facing +z) -> camera frame (y down, z away)


def _turn(axis: int, degrees: float) -> np.ndarray:
    """(3, 3) rotation by `degrees` about camera axis 0 (x: pitches the trunk in depth) or 2 (z: tilts it
    in the image)."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def _fit(body: BodyModel, rotation: np.ndarray) -> PersonFit:
    """A T-posed fit seen through `rotation` (body -> camera), with a small 2D residual."""
    params = {"pose": np.zeros((23, 3), np.float32), "scales": np.ones(24, np.float32),
              "rotation": rotation.astype(np.float32), "scale": np.asarray(1.0, np.float32),
              "translation": np.zeros(2, np.float32)}
    return PersonFit("p", params, {}, 1.0, 0.0, True, False, 0, 10)


@pytest.fixture(scope="module")
def body(builtin_template) -> BodyModel:
    return BodyModel(builtin_template)


def _targets(template, parts: range, keypoints: int = 0) -> PersonTargets:
    """50 points spread over the box on template vertices of `parts` (DensePose 1..24), and `keypoints`
    visible keypoints."""
    vertices = np.concatenate([np.flatnonzero(template.vertex_part == p)[:50] for p in parts])
    index = np.random.default_rng(1).choice(vertices, 50, replace=len(vertices) < 50)
    xy = np.random.default_rng(0).uniform(-0.8, 0.8, (50, 2)).astype(np.float32)
    keypoint_xy = np.random.default_rng(2).uniform(-0.8, 0.8, (17, 2)).astype(np.float32)
    return PersonTargets("p", xy, index, keypoint_xy, np.arange(17) < keypoints)


@pytest.fixture(scope="module")
def targets(builtin_template) -> PersonTargets:
    return _targets(builtin_template, range(1, 25))


def test_pitch_and_image_tilt_of_a_turned_trunk(body) -> None:
    assert trunk_pitch_deg(body, _fit(body, FRONTAL).params) == pytest.approx(0.0, abs=0.5)
    assert trunk_image_tilt_deg(body, _fit(body, FRONTAL).params) == pytest.approx(0.0, abs=0.5)
    leaning = _fit(body, _turn(0, 30) @ FRONTAL).params
    assert abs(trunk_pitch_deg(body, leaning)) == pytest.approx(30.0, abs=0.5)
    assert trunk_image_tilt_deg(body, leaning) == pytest.approx(0.0, abs=0.5)
    sideways = _fit(body, _turn(2, 60) @ FRONTAL).params
    assert trunk_image_tilt_deg(body, sideways) == pytest.approx(60.0, abs=0.5)
    assert trunk_image_tilt_deg(body, _fit(body, _turn(2, 180) @ FRONTAL).params) == pytest.approx(180.0, abs=0.5)


@pytest.mark.parametrize(("image_tilt", "pitch", "flagged"), [
    (0, 20, False),   # an upright person seen from a camera above: not leaning
    (0, 30, True),    # upright in the picture, 30 degrees in depth: leaning
    (10, -30, True),  # leaning towards the camera
    (60, 30, False),  # bending or sitting down: a trunk tilted in the image may lean in depth
    (60, 50, True),   # ... but not lie in depth
])
def test_trunk_in_depth_flag(body, targets, image_tilt, pitch, flagged) -> None:
    fit = _fit(body, _turn(2, image_tilt) @ _turn(0, pitch) @ FRONTAL)
    verdict, flags = judge_fit(fit, targets, body)
    assert ("trunk_in_depth" in flags) is flagged
    assert verdict == ("poor" if flagged else "good")


def test_the_limits_are_rules(body, targets) -> None:
    fit = _fit(body, _turn(0, 30) @ FRONTAL)
    assert "trunk_in_depth" not in judge_fit(fit, targets, body, QualityRules(max_trunk_pitch_deg=35.0))[1]
    tilted = _fit(body, _turn(2, 60) @ _turn(0, 30) @ FRONTAL)
    strict = dataclasses.replace(QualityRules(), max_trunk_pitch_any_deg=25.0)
    assert "trunk_in_depth" in judge_fit(tilted, targets, body, strict)[1]



def test_few_parts_without_keypoints_is_poor(body, builtin_template) -> None:
    fit = _fit(body, FRONTAL)
    half_hidden = _targets(builtin_template, range(1, 6))  # like the real 61 points on 5 parts
    assert judge_fit(fit, half_hidden, body) == ("poor", ["few_parts"])
    assert judge_fit(fit, _targets(builtin_template, range(1, 6), keypoints=6), body) == ("good", [])
    assert judge_fit(fit, _targets(builtin_template, range(1, 9)), body) == ("good", [])
    assert judge_fit(fit, half_hidden, body, QualityRules(min_parts=5)) == ("good", [])


@pytest.mark.parametrize(("scale", "translation", "rules", "flagged"), [
    (1.0, (0.0, 0.0), QualityRules(), False),  # the T-pose, 1.65 units wide: 0.82 of its square box, inside it
    (3.5, (0.0, 0.0), QualityRules(max_outside=1.0), True),  # 2.9 times the box (the box rule alone)
    (1.0, (1.3, 0.0), QualityRules(), True),   # beside the box: 91% of the vertices outside it
    (1.0, (0.5, 0.0), QualityRules(), False),  # off-centre: 7% outside
])
def test_mesh_far_outside_the_box_is_poor(body, targets, scale, translation, rules, flagged) -> None:
    fit = _fit(body, FRONTAL)
    fit = dataclasses.replace(fit, params={**fit.params, "scale": np.asarray(scale, np.float32),
                                           "translation": np.asarray(translation, np.float32)})
    verdict, flags = judge_fit(fit, targets, body, rules)
    assert ("mesh_outside_box" in flags) is flagged and verdict == ("poor" if flagged else "good")
