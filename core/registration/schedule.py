"""Staged registration: a fit as a sequence of `RegistrationSettings` stages, each starting where the last ended.

SMPLify-style fitters fit a stiff body first (the camera and the torso settle while the limbs cannot run off)
and relax it after. Our round-1 preset alone (w_scale 100, w_joint 1) leaves real people leaning: on 7 real
upright people (IUV only) median |spine pitch| 22.8 deg and 4.42 px dense error, against 2.9 deg and 3.02 px
with the later-round weights (w_scale 10, w_joint 0.001) (issue 11). `FitSchedule.staged` runs the stiff
weights and then the relaxed ones in one fit; `FitSchedule.keypoints_only` is the schedule for people without
dense points (see its docstring for what was measured).

Only the first stage starts from the T-pose at several orientations (or from the given initialisation); every
later stage starts from the previous stage's result, one start per person. A person failed in any stage stays
failed. Progress events count steps over the whole schedule: `total` is the sum of the stages' steps, less
what stages that stopped early (`early_stop_rtol`) left out, so the last event has step == total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch

from deformlearn.core.cancel import CancelToken
from deformlearn.core.registration.data import RegistrationBatch
from deformlearn.core.registration.fitter import (
    BodyParams,
    RegistrationProgress,
    RegistrationResult,
    register,
)
from deformlearn.core.registration.settings import RegistrationSettings

#: Prior weights of a single fit (`FitSchedule.single_fit`, and so of `keypoints_only` from it). Measured by
#: benchmarks/real_data.py (builtin template; pedestrian / seated man of shared/data/densepose, dense only;
#: 4 Human3.6M frames, keypoints only), trunk pitch and the seated man's thighs below the horizontal (left /
#: right) in degrees, dense error px of the 256 frame:
#:   round-1 preset alone:          pitch -31.8 / -36.8, thighs 48 / 52, dense 4.07 / 4.86 px; H36M MPJPE 244,
#:                                  PA-MPJPE 138 mm
#:   staged, no priors:             pitch -24.9 / -32.7, thighs 58 / 59, dense 3.06 / 3.34 px; H36M 226 / 157 mm
#:   staged + pose prior 10:        pitch -26.3 / -28.0, thighs 57 / 59, dense 3.12 / 3.59 px; H36M 269 / 158 mm
#:   staged + upright 2:            pitch  -2.1 /  -4.5, thighs 60 / 58, dense 3.10 / 3.36 px; H36M 144 / 101 mm
#:   staged + pose 10 + upright 2:  pitch  -2.0 /  -3.4, thighs 60 / 55, dense 3.15 / 3.55 px; H36M 156 / 111 mm
#:   (chosen: the pose prior keeps both photos' joints in their ranges, so their verdict is "good")
#: No prior moves the seated man's thighs (55-60 degrees in every row): they are not pulled down by a prior.
#: Nor are they a local minimum of a wrong answer: pinned in the camera frame at 10 / 30 / 45 degrees below the
#: horizontal (an extra loss, experiment outside the repo) the fit explains the IUV worse, dense 5.80 / 4.77 /
#: 3.68 px against 3.55 (upper legs 9.8 / 7.7 / 6.0 against 5.5, lower legs 6.4 / 5.1 / 3.1 against 2.8), and
#: released from the pin it goes back to 36-57 degrees. The photo agrees: he perches on a bar stool, knees about
#: 120 px below his hips, thighs as long as his shins in the image; BlazePose's own 3D landmarks put his
#: thighs at 47 / 49 degrees, the synthetic lifter from the detected keypoints at 60 / 44, its depths in the
#: fit give 52 / 54. So "thighs roughly horizontal" is not what this photo shows; the fit is within about 10
#: degrees of the independent estimates.
SINGLE_FIT_PRIORS: dict[str, float] = {"w_pose_prior": 10.0, "w_upright": 2.0}

#: Early stopping of a single fit's stages (`RegistrationSettings.early_stop_rtol`; rounds leave it off): a
#: start stops once its loss stayed within this fraction of its lowest for 11 steps. The stiff stage only
#: has to settle the camera and the torso; the relaxed one makes the fit. Measured per person (batch 1) on
#: the two real photos (dense px, trunk pitch deg, steps of 300), 12 synthetic people (MPJPE mm, median
#: steps) and 4 Human3.6M frames from keypoints (`keypoints_only` from the stiff stage: MPJPE / PA mm):
#:   off:                    3.15 / 3.55 px, -2.0 / -3.1 deg, 300 / 300; 66.0 mm, 300; 156.0 / 111.4 mm
#:   0.3% both stages:       3.15 / 3.55 px, -2.0 / -3.3 deg, 251 / 263; 66.4 mm, 300; 156.0 / 111.4 mm
#:   1% both stages:         3.23 / 3.55 px, -2.8 / -5.1 deg, 226 / 173; 65.7 mm, 276; 156.0 / 111.4 mm
#:   stiff 5%, relaxed 0.3%: 3.15 / 3.55 px, -1.6 / -3.3 deg, 199 / 227; 66.1 mm, 244; 154.6 / 110.2 mm (chosen)
#:   stiff 10%, relaxed 0.3%: 3.15 / 3.52 px, -1.4 / -2.3 deg, 164 / 193; 67.7 mm (worst person 117 -> 149), 225
#: Every fit of every row was judged good.
SINGLE_FIT_EARLY_STOP: dict[str, float] = {"stiff": 5e-2, "relaxed": 3e-3}


@dataclass(frozen=True)
class FitSchedule:
    """Stages of one fit, run in order; stage 0's `num_orientations` sets the starts from the T-pose."""

    stages: tuple[RegistrationSettings, ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("FitSchedule: at least one stage")

    @property
    def steps(self) -> int:
        return sum(s.steps for s in self.stages)

    @property
    def device(self) -> str:
        return self.stages[0].device

    def with_(self, **changes) -> FitSchedule:
        """Every stage with these settings changed (device, num_threads, progress_every, ...)."""
        return FitSchedule(tuple(s.with_(**changes) for s in self.stages))

    @classmethod
    def single(cls, settings: RegistrationSettings) -> FitSchedule:
        return cls((settings,))

    @classmethod
    def staged(cls, stiff: RegistrationSettings, relaxed_fraction: float = 0.5) -> FitSchedule:
        """`stiff` (e.g. `RegistrationSettings.round1`) for the first part of its steps, then the relaxed
        later-round weights (w_scale 10, w_joint 0.001) from there with a warm-up and decay
        (`RegistrationSettings.refinement`'s schedule) for the last `relaxed_fraction` of them. The total
        number of steps stays `stiff.steps`."""
        if not 0 < relaxed_fraction < 1:
            raise ValueError(f"relaxed_fraction must be in (0, 1), got {relaxed_fraction}")
        relaxed_steps = max(1, round(stiff.steps * relaxed_fraction))
        if stiff.steps <= relaxed_steps:
            return cls.single(stiff)
        relaxed = RegistrationSettings.refinement(**{**_shared(stiff), "steps": relaxed_steps,
                                                     "w_pose_prior": stiff.w_pose_prior,
                                                     "w_upright": stiff.w_upright})
        return cls((stiff.with_(steps=stiff.steps - relaxed_steps), relaxed))

    @classmethod
    def single_fit(cls, stiff: RegistrationSettings | None = None, **changes) -> FitSchedule:
        """The schedule of a single fit from the T-pose (`deformlearn register`, the app's Fit): `staged`
        over `stiff` (default `RegistrationSettings.round1`: 300 steps, 4 orientations) with the priors of
        `SINGLE_FIT_PRIORS`, the early stopping of `SINGLE_FIT_EARLY_STOP` (unless `changes` sets
        early_stop_rtol: then every stage has that) and `changes` applied to it."""
        stiff = RegistrationSettings.round1() if stiff is None else stiff
        stop = {"early_stop_rtol": SINGLE_FIT_EARLY_STOP["stiff"]} if "early_stop_rtol" not in changes else {}
        first, *rest = cls.staged(stiff.with_(**{**SINGLE_FIT_PRIORS, **stop, **changes})).stages
        relaxed = {"early_stop_rtol": SINGLE_FIT_EARLY_STOP["relaxed"]} if stop else {}
        return cls((first, *(s.with_(**relaxed) for s in rest)))

    @classmethod
    def refit(cls, schedule: FitSchedule) -> FitSchedule:
        """A re-fit from a person's own fit (`fit_people`'s "auto" start): only `schedule`'s last stage (for
        `single_fit` the relaxed weights with the priors, warm-up and decay, early stopping), one start."""
        return cls.single(schedule.stages[-1].with_(num_orientations=1))

    @classmethod
    def keypoints_only(cls, base: RegistrationSettings) -> FitSchedule:
        """For people with keypoints and no dense points: torso first, then the limbs.

        Stage 1 (a third of the steps): the camera and the torso only (limb poses held at the T-pose by
        w_joint 100, segment scales held by w_scale 100) from `base.num_orientations` turns about the
        vertical axis, so that the body turns to match the shoulders and hips before any arm can absorb
        the misfit. Stage 2: relaxed weights (w_scale 10, w_joint 0.001) with the pose prior.
        """
        torso_steps = max(1, base.steps // 3)
        shared = _shared(base)
        torso = RegistrationSettings(**shared, steps=torso_steps, w_dense=0.0, w_scale=100.0, w_joint=100.0,
                                     w_pose_prior=base.w_pose_prior, w_upright=base.w_upright,
                                     num_orientations=max(base.num_orientations, 8))
        relaxed = RegistrationSettings.refinement(**shared, steps=max(1, base.steps - torso_steps), w_dense=0.0,
                                                  w_pose_prior=base.w_pose_prior, w_upright=base.w_upright)
        return cls((torso, relaxed))


def _shared(s: RegistrationSettings) -> dict:
    """The settings that are not the schedule's own: device, threads, seed, progress, failure rules."""
    return {"device": s.device, "num_threads": s.num_threads, "seed": s.seed, "progress_every": s.progress_every,
            "divergence_loss": s.divergence_loss, "w_KP": s.w_KP, "w_det": s.w_det, "lr": s.lr,
            "early_stop_rtol": s.early_stop_rtol}


def register_schedule(
    body_model: torch.nn.Module,
    batch: RegistrationBatch,
    schedule: FitSchedule,
    init: BodyParams | None = None,
    progress: Callable[[RegistrationProgress], None] | None = None,
    cancel: CancelToken | None = None,
    watch: Sequence[int] = (),
) -> RegistrationResult:
    """Run `schedule` on `batch` (arguments as `register`); returns the last stage's result with the first
    stage's orientation index, `failed` if any stage failed, and the steps (overall and per person) and
    seconds of all stages."""
    done, seconds, result, first = 0, 0.0, None, None
    failed: list[bool] | None = None
    steps = [0] * batch.size
    for k, settings in enumerate(schedule.stages):
        later = sum(s.steps for s in schedule.stages[k + 1:])

        def shifted(event: RegistrationProgress, offset: int = done, later: int = later) -> None:
            progress(replace(event, step=offset + event.step, total=offset + event.total + later))

        result = register(body_model, batch, settings, init=init, progress=None if progress is None else shifted,
                          cancel=cancel, watch=watch)
        first = first or result
        failed = [f.failed for f in result.fits] if failed is None else [a or f.failed for a, f in zip(failed, result.fits)]
        done += result.steps_done
        seconds += result.seconds
        steps = [n + f.steps for n, f in zip(steps, result.fits)]
        init = BodyParams.from_dicts([f.params for f in result.fits], device=settings.device)
    fits = [replace(f, failed=bad, converged=f.converged and not bad, orientation=f0.orientation, steps=n)
            for f, f0, bad, n in zip(result.fits, first.fits, failed, steps)]
    return replace(result, fits=fits, steps_done=done, seconds=seconds)
