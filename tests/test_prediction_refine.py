"""Refining regressor predictions by registration: three starts (the prediction, the T-pose, the T-pose with the
prediction's depths), the fit that explains the annotations best kept."""

from __future__ import annotations

import numpy as np
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import axis_angle_to_rotmat
from deformlearn.core.densepose.correspondence import template_key
from deformlearn.core.metrics import mpjpe_mm
from deformlearn.core.project.importing import load_project_template
from deformlearn.core.registration.data import persons_from_project
from deformlearn.core.registration.schedule import FitSchedule
from deformlearn.core.regressor.prediction import REFINE_STARTS, data_losses, refine_candidates, refine_predictions
from deformlearn.core.rounds.metrics import fit_keypoints_camera
from tests.round_project import make_round_project


def _turned(params: dict, angle: float) -> dict:
    """`params` with the body turned by `angle` radians about its own vertical axis (a wrong basin)."""
    turn = axis_angle_to_rotmat(torch.tensor([[0.0, angle, 0.0]]))[0].numpy()
    rotation = np.asarray(params["rotation"], np.float32).reshape(3, 3)
    return {**params, "rotation": (rotation @ turn).astype(np.float32)}


def _people_with_truth(root, n: int, seed: int):
    """A synthetic project of n people: its template, body model, the people's registration targets, their
    ground truth as fit params, and its camera-frame keypoints (n, 17, 3)."""
    with make_round_project(root, n=n, seed=seed, builtin=True) as project:
        template = load_project_template(project)
        body = BodyModel(template)
        ids = [int(p) for p in project.person_ids()]
        people = persons_from_project(project, ids, template_key(template))
        truth = [{k: np.asarray(v, np.float32) for k, v in project.ground_truth(p).items()} for p in ids]
    return template, body, people, truth, fit_keypoints_camera(body, truth)


def test_refinement_keeps_a_good_prediction_and_escapes_a_wrong_one(tmp_path) -> None:
    torch.manual_seed(0)
    template, body, people, truth, gt = _people_with_truth(tmp_path / "p", 4, 3)
    schedule = FitSchedule.single_fit(steps=80, num_threads=1)

    # a prediction at the answer: its refined fit explains the points better than the T-pose's and is kept
    kept, start = refine_predictions(template, people, truth, schedule)
    assert start.shape == (4,) and np.all(start == REFINE_STARTS.index("prediction"))
    assert mpjpe_mm(fit_keypoints_camera(body, kept), gt, rescale=False) < 40.0

    # a prediction facing the wrong way (refined from it alone: ~200 mm): the T-pose's fit is kept
    wrong = [_turned(t, np.pi) for t in truth]
    assert mpjpe_mm(fit_keypoints_camera(body, wrong), gt, rescale=False) > 300.0
    kept, start = refine_predictions(template, people, wrong, schedule)
    assert not np.any(start == REFINE_STARTS.index("prediction"))
    assert mpjpe_mm(fit_keypoints_camera(body, kept), gt, rescale=False) < 120.0


def test_fits_are_ranked_by_what_they_explain_whatever_their_depth_targets(tmp_path) -> None:
    from dataclasses import replace

    template, body, people, truth, _ = _people_with_truth(tmp_path / "p", 3, 4)
    settings = FitSchedule.single_fit().stages[-1]
    exact = data_losses(body, people, truth, settings)
    # depth targets play no part: the same fits of people with made-up depths score the same
    hinted = [replace(p, depths=np.full(17, 5.0, np.float32)) for p in people]
    assert np.allclose(data_losses(body, hinted, truth, settings), exact)
    # a fit a little off explains the points less well than the exact one
    off = [{**t, "translation": t["translation"] + np.float32(0.05)} for t in truth]
    assert np.all(exact < 0.5) and np.all(data_losses(body, people, off, settings) > exact + 1.0)


def test_the_predicted_depths_settle_what_keypoints_alone_leave_open(tmp_path) -> None:
    from dataclasses import replace

    torch.manual_seed(0)
    template, body, people, truth, gt = _people_with_truth(tmp_path / "p", 4, 5)
    # keypoints only (no dense points) for the first three; the last one has no keypoints at all
    sparse = [replace(p, points=np.zeros((0, 2), np.float32), vertex_index=np.zeros(0, np.int64)) for p in people[:3]]
    blind = replace(people[3], keypoint_visible=np.zeros(17, bool))
    schedule = FitSchedule.single_fit(steps=80, num_threads=1)
    guess, fresh, hinted = refine_candidates(template, [*sparse, blind], truth, schedule)
    assert len(guess) == len(fresh) == len(hinted) == 4
    # the true depths put the keypoint-only fits' joints where they are; without them, anywhere on the rays
    plain = mpjpe_mm(fit_keypoints_camera(body, [f.params for f in fresh[:3]]), gt[:3], rescale=False)
    with_depths = mpjpe_mm(fit_keypoints_camera(body, [f.params for f in hinted[:3]]), gt[:3], rescale=False)
    assert with_depths < 0.7 * plain, (with_depths, plain)
    assert hinted[3] is fresh[3]  # no keypoints: no depth to fit, the T-pose fit is not run twice
