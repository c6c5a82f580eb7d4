"""Refining regressor predictions by registration: both starts (prediction and T-pose), the lower loss kept."""

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
from deformlearn.core.regressor.prediction import refine_predictions
from deformlearn.core.rounds.metrics import fit_keypoints_camera
from tests.round_project import make_round_project


def _turned(params: dict, angle: float) -> dict:
    """`params` with the body turned by `angle` radians about its own vertical axis (a wrong basin)."""
    turn = axis_angle_to_rotmat(torch.tensor([[0.0, angle, 0.0]]))[0].numpy()
    rotation = np.asarray(params["rotation"], np.float32).reshape(3, 3)
    return {**params, "rotation": (rotation @ turn).astype(np.float32)}


def test_refinement_keeps_a_good_prediction_and_escapes_a_wrong_one(tmp_path) -> None:
    torch.manual_seed(0)
    project = make_round_project(tmp_path / "p", n=4, seed=3, builtin=True)
    with project:
        template = load_project_template(project)
        body = BodyModel(template)
        ids = [int(p) for p in project.person_ids()]
        people = persons_from_project(project, ids, template_key(template))
        truth = [{k: np.asarray(v, np.float32) for k, v in project.ground_truth(p).items()} for p in ids]
        gt = fit_keypoints_camera(body, truth)
        schedule = FitSchedule.single_fit(steps=80, num_threads=1)

        # a prediction at the answer: its refined fit explains the points better than the T-pose's and is kept
        kept, from_prediction = refine_predictions(template, people, truth, schedule)
        assert from_prediction.shape == (4,) and from_prediction.all()
        assert mpjpe_mm(fit_keypoints_camera(body, kept), gt, rescale=False) < 40.0

        # a prediction facing the wrong way (refined from it alone: ~200 mm): the T-pose's fit is kept
        wrong = [_turned(t, np.pi) for t in truth]
        assert mpjpe_mm(fit_keypoints_camera(body, wrong), gt, rescale=False) > 300.0
        kept, from_prediction = refine_predictions(template, people, wrong, schedule)
        assert not from_prediction.any()
        assert mpjpe_mm(fit_keypoints_camera(body, kept), gt, rescale=False) < 120.0
