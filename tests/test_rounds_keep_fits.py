"""A round after good single fits: the round's fits join the history, and a good current fit that round 1's
fit does not beat stays current (and is what the regressor trains on); round 1 runs the single fit's staged
schedule, so on the real seated man its own fit is judged good as well, and so is round 2's refinement of it
(with the pose prior)."""

from __future__ import annotations

import shutil

import pytest
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.metrics import mpjpe_mm
from deformlearn.core.project.importing import load_project_template
from deformlearn.core.project.records import FitRecord
from deformlearn.core.project.store import Project
from deformlearn.core.registration.pipeline import FitPlan, fit_people
from deformlearn.core.registration.schedule import FitSchedule
from deformlearn.core.rounds.loop import array_name, keeps_current, run_round
from deformlearn.core.rounds.metrics import fit_keypoints_camera
from deformlearn.core.rounds.settings import RoundSettings
from tests.round_project import make_round_project
from tests.test_rounds import tiny_settings


def _fit(error: float, quality: str = "good", status: str = "converged", review: str = "unreviewed",
         points: float = 80.0, keypoint_px: float = 2.0) -> FitRecord:
    return FitRecord(person_id=1, round_index=0, params={}, status=status, review_status=review,
                     metrics={"error": error, "keypoint_error_px": keypoint_px, "num_points": points,
                              "quality": quality})


def test_a_good_current_fit_stays_over_a_worse_new_one_only() -> None:
    good = _fit(3.0)
    assert keeps_current(good, _fit(4.0))  # larger residual
    assert keeps_current(good, _fit(2.0, quality="poor"))  # worse verdict, whatever its residual
    assert keeps_current(good, _fit(2.0, status="failed"))
    assert keeps_current(good, _fit(float("nan")))
    assert not keeps_current(good, _fit(3.0)) and not keeps_current(good, _fit(2.5))
    assert not keeps_current(None, _fit(9.0))
    for weak in (_fit(1.0, quality="poor"), _fit(1.0, review="rejected"), _fit(1.0, status="failed")):
        assert not keeps_current(weak, _fit(9.0, quality="poor"))
    keypoints_only = _fit(float("nan"), points=0.0, keypoint_px=2.0)  # the keypoint residual decides
    assert keeps_current(keypoints_only, _fit(float("nan"), points=0.0, keypoint_px=3.0))
    assert not keeps_current(keypoints_only, _fit(float("nan"), points=0.0, keypoint_px=1.5))


def _mpjpe(project: Project, fits: dict[int, FitRecord]) -> float:
    body = BodyModel(load_project_template(project))
    ids = sorted(fits)
    gt = fit_keypoints_camera(body, [project.ground_truth(p) for p in ids])
    return mpjpe_mm(fit_keypoints_camera(body, [fits[p].params for p in ids]), gt)


def _round_after_single_fits(path, settings: RoundSettings) -> tuple[dict, dict, dict]:
    """Single fits of everyone, then one round: ({pid: single fit}, {pid: round fit}, {pid: current fit})."""
    with Project.open(path) as project:
        template = load_project_template(project)
        schedule = FitSchedule.single_fit(steps=80, num_orientations=2, num_threads=1, progress_every=1000)
        fit_people(project, template, project.person_ids(), FitPlan(schedule))
        single = {f.person_id: f for f in project.current_fits()}
        run_round(project, settings)
        return single, {f.person_id: f for f in project.fits(1)}, {f.person_id: f for f in project.current_fits()}


def test_a_round_after_good_single_fits_keeps_a_fit_at_least_as_good_current(tmp_path) -> None:
    torch.set_num_threads(1)
    make_round_project(tmp_path / "template", n=16).close()
    paths = {name: tmp_path / name for name in ("keep", "replace")}
    for path in paths.values():
        shutil.copytree(tmp_path / "template", path)
    single, rounds, current = _round_after_single_fits(paths["keep"], tiny_settings())
    good = [p for p, f in single.items() if f.metrics["quality"] == "good"]
    assert len(good) >= 8 and len(rounds) == 16
    for p in good:
        assert current[p].metrics["quality"] == "good" and current[p].metrics["error"] <= single[p].metrics["error"]
        assert current[p].id in (single[p].id, rounds[p].id)
    kept = [p for p in good if current[p].id == single[p].id]
    assert kept, "the round beat every single fit: nothing tested the rule"
    with Project.open(paths["keep"]) as project:
        assert project.rounds()[0].metrics["registration_kept_previous"] == len(kept)
        assert all(len(project.fit_history(p)) == 2 for p in kept)  # the round's fit is in the history
        trained = set(project.read_array(array_name(1, "regressor_ids")).tolist()) & set(kept)
        assert trained and all(f.id == single[f.person_id].id for f in project.current_fits(sorted(trained)))
        truth_current = _mpjpe(project, {p: current[p] for p in good})
        truth_round = _mpjpe(project, {p: rounds[p] for p in good})
        # round 2 refines each person from the current fit; its fit becomes current, as without the rule
        run_round(project, tiny_settings())
        assert {f.person_id: f.id for f in project.current_fits()} == {f.person_id: f.id for f in project.fits(2)}
    # the ground truth agrees that the current fits are the better ones (the rule sees 2D residuals only)
    assert truth_current < truth_round

    _, replaced_rounds, replaced = _round_after_single_fits(paths["replace"], tiny_settings(keep_better_fits=False))
    assert all(replaced[p].id == replaced_rounds[p].id for p in replaced)  # the old rule: the round's fit is current


def test_a_round_on_the_real_seated_man_keeps_his_fit_good(shared_data, tmp_path) -> None:
    from deformlearn.core.cli.parser import main

    folder = tmp_path / "iuv"
    folder.mkdir()
    for name in ("seated_im.jpg", "seated_im_IUV.png", "seated_im_INDS.png"):
        shutil.copy(shared_data / "densepose" / name, folder / name)
    project_path = tmp_path / "project"
    assert main(["import", str(project_path), "--iuv", str(folder)]) == 0
    assert main(["register", str(project_path), "--threads", "1"]) == 0
    torch.set_num_threads(1)
    with Project.open(project_path) as project:
        (pid,) = project.person_ids().tolist()
        single = project.current_fit(pid)
        assert single.metrics["quality"] == "good"
        run_round(project, RoundSettings.cpu_demo(lifter_file="none"))
        current, round_fit = project.current_fit(pid), project.latest_fit(pid, 1)
        assert [f.id for f in project.fit_history(pid)] == [single.id, round_fit.id]
        # round 1 on the single fit's schedule: its own fit is good too (the stiff preset alone: 4.75 px, poor)
        assert round_fit.metrics["quality"] == "good" and round_fit.metrics["error"] < 4.0
        assert current.metrics["quality"] == "good" and current.metrics["error"] <= single.metrics["error"]
        assert project.read_array(array_name(1, "regressor_ids")).tolist() == [pid]
        # round 2 refines him from that fit with the pose prior (without it: "poor", implausible_pose)
        run_round(project, RoundSettings.cpu_demo(lifter_file="none"))
        second = project.current_fit(pid)
        assert second.round_index == 2 and second.metrics["quality"] == "good", second.metrics["quality_flags"]


@pytest.mark.parametrize("staged", [True, False])
def test_round_one_runs_the_single_fit_schedule_unless_told_not_to(staged) -> None:
    settings = RoundSettings.cpu_demo(staged_first_round=staged)
    first = settings.first_registration
    schedule = settings.registration_schedule(1)
    if staged:
        assert schedule == FitSchedule.single_fit(first, early_stop_rtol=0.0)
        assert [s.w_scale for s in schedule.stages] == [100.0, 10.0] and schedule.steps == first.steps
        assert all(s.w_pose_prior > 0 and s.w_upright > 0 and s.early_stop_rtol == 0 for s in schedule.stages)
    else:
        assert schedule == FitSchedule.single(first)
    assert settings.registration_schedule(2) == FitSchedule.single(settings.later_registration)
    assert settings.later_registration.w_pose_prior > 0 and RoundSettings().later_registration.w_pose_prior > 0
    assert RoundSettings.paper().later_registration.w_pose_prior == 0
    assert not RoundSettings.paper().staged_first_round and RoundSettings().staged_first_round
