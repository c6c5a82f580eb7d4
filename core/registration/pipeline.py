"""The one fit pipeline: load people, choose the start, register, judge, save with one metric schema.

`deformlearn register`, the app's registration worker, the rounds and `predict` all fit through here:

- `fittable_people` splits people into those that can be fitted (dense points, or at least
  `MIN_KEYPOINTS` visible keypoints) and the rest;
- `start_params` chooses the start: the T-pose (None: several orientations), the latest regressor's
  predictions, each person's current stored fit, or ("auto") each person's current fit when it is a good
  one (`warm_fit`; fit_people puts those people in chunks of their own), re-fitted with `FitSchedule.refit`,
  else the T-pose;
- `fit_chunk` registers a chunk of people from one or more starts, keeping each person's best, with a
  keypoints-only schedule for people without dense points when they start from the T-pose;
- `fit_record` judges each fit (`quality.judge_fit`) and writes the metrics in `FIT_METRIC_KEYS`'s schema;
- `fit_people` does all of that chunk by chunk and saves each chunk's fits in one transaction.

Metric schema of every stored fit (FitRecord.metrics): "error" mean dense error and "keypoint_error_px"
mean keypoint error (pixels of a 256 x 256 frame over the square box), "converged" (1.0 / 0.0: the
optimiser stopped changing, nothing more), "orientation" (index of the kept T-pose start), "start" (index
of the kept start in `fit_chunk`'s list), "steps" (Adam steps the fit ran, over all stages: fewer than the
schedule's when it stopped early), "num_points", "num_keypoints", "quality" ("good" / "poor" /
"degenerate") and "quality_flags" (comma-separated reasons), and "loss_<term>" per loss term. Fits stored
before this schema may carry "keypoint_error" instead: read it with `keypoint_error_of`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.template import Template
from deformlearn.core.cancel import Cancelled, CancelToken, raise_if_cancelled
from deformlearn.core.densepose.correspondence import map_to_vertices, template_key
from deformlearn.core.project.records import FitRecord
from deformlearn.core.registration.data import PersonTargets, collate, persons_from_project
from deformlearn.core.registration.fitter import BodyParams, PersonFit, RegistrationProgress
from deformlearn.core.registration.progress import PipelineProgress
from deformlearn.core.registration.quality import judge_fit
from deformlearn.core.registration.schedule import FitSchedule, register_schedule
from deformlearn.core.registration.settings import RegistrationSettings

START_CHOICES = ("tpose", "predictions", "fits", "auto")
#: A person without dense points is fitted when it has at least this many visible keypoints.
MIN_KEYPOINTS = 4
#: Keys every fit's metrics carry (plus "loss_<term>" per loss term).
FIT_METRIC_KEYS = ("error", "keypoint_error_px", "converged", "orientation", "start", "steps", "num_points",
                   "num_keypoints", "quality", "quality_flags")


def keypoint_error_of(metrics: dict) -> float | None:
    """A stored fit's mean keypoint error (px of the 256 frame), from this schema or the app's older one."""
    value = metrics.get("keypoint_error_px", metrics.get("keypoint_error"))
    return float(value) if isinstance(value, (int, float)) else None


@dataclass
class FitSummary:
    """What `fit_people` did: fitted / failed counts, people skipped (nothing to fit), quality counts."""

    fitted: int = 0
    failed: int = 0
    skipped: list[int] = field(default_factory=list)
    seconds: float = 0.0
    quality: dict[str, int] = field(default_factory=dict)
    converged: int = 0

    def to_dict(self) -> dict:
        return {"fitted": self.fitted, "failed": self.failed, "skipped": list(self.skipped),
                "seconds": self.seconds, "quality": dict(self.quality),
                "converged": self.converged}


def ensure_correspondences(project, template: Template, person_ids: np.ndarray) -> str:
    """Compute and store template correspondences for people that have dense points but none yet; returns
    the template's key."""
    key = template_key(template)
    with project.transaction():
        for pid in person_ids:
            if project.correspondences(int(pid), key) is None:
                dense = project.person(int(pid)).dense
                if dense is not None and len(dense):
                    project.set_correspondences(int(pid), key, *map_to_vertices(template, dense.part, dense.uv))
    return key


def fittable_people(project, person_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """-> (ids that can be fitted: dense points or >= MIN_KEYPOINTS visible keypoints, ids that cannot)."""
    counts = project.point_counts()
    ready, skipped = [], []
    for pid in person_ids:
        if int(pid) not in counts:
            project.person(int(pid))  # raises the store's error naming the missing person
        dense, keypoints = counts[int(pid)]
        (ready if dense > 0 or keypoints >= MIN_KEYPOINTS else skipped).append(int(pid))
    return ready, skipped


def warm_fit(project, person_id: int) -> FitRecord | None:
    """The person's current fit when a re-fit may start from it: it converged, was judged "good" and was not
    rejected; else None."""
    fit = project.current_fit(int(person_id))
    ok = fit is not None and fit.status == "converged" and fit.review_status != "rejected"
    return fit if ok and fit.metrics.get("quality") == "good" else None


def start_params(project, person_ids: Sequence[int], start: str, *, device: str = "cpu",
                 regressor: str | None = None) -> BodyParams | None:
    """The start of a fit: None for "tpose"; the regressor's predictions ("predictions", the latest round's
    regressor or the file `regressor`); each person's current fit ("fits": the one its review refers to); for "auto" each person's
    `warm_fit` when every one of them has one, else None (the T-pose)."""
    if start not in START_CHOICES:
        raise ValueError(f"unknown start {start!r}; choose one of {START_CHOICES}")
    if start == "tpose":
        return None
    if start == "auto":
        warm = [warm_fit(project, pid) for pid in person_ids]
        return None if not warm or None in warm else BodyParams.from_dicts([f.params for f in warm])
    if start == "predictions":
        from deformlearn.core.regressor.prediction import predict_people

        return BodyParams.from_dicts(predict_people(project, np.array(person_ids), regressor=regressor,
                                                    device=device).before)
    fits = [project.current_fit(int(pid)) for pid in person_ids]
    missing = [int(pid) for pid, f in zip(person_ids, fits) if f is None]
    if missing:
        raise ValueError(f"{project.root}: start from fits: no stored fit for people {missing}")
    return BodyParams.from_dicts([f.params for f in fits])


def fit_metrics(fit: PersonFit, targets: PersonTargets, body: BodyModel, start: int = 0) -> dict:
    """The one metric schema (module docstring) of a fit of `targets`."""
    quality, flags = judge_fit(fit, targets, body)
    return {"error": fit.dense_error_px, "keypoint_error_px": fit.keypoint_error_px, "converged": float(fit.converged),
            "orientation": float(fit.orientation), "start": float(start), "steps": float(fit.steps),
            "num_points": float(len(targets.points)),
            "num_keypoints": float(targets.keypoint_visible.sum()), "quality": quality, "quality_flags": ",".join(flags),
            **{f"loss_{k}": v for k, v in fit.losses.items()}}


def fit_record(fit: PersonFit, targets: PersonTargets, body: BodyModel, round_index: int, start: int = 0) -> FitRecord:
    """A fit as the store's record: `fit_metrics`, status "failed" or "converged" (the optimiser ran)."""
    return FitRecord(person_id=int(fit.person_id), round_index=round_index, params=fit.params,
                     metrics=fit_metrics(fit, targets, body, start), status="failed" if fit.failed else "converged")


def fit_rank(fit: PersonFit) -> tuple[bool, float]:
    """Sort key of alternative fits of one person: not failed first, then the lower final loss."""
    return fit.failed, fit.losses.get("total", float("inf"))


def fit_chunk(body: BodyModel, people: list[PersonTargets], schedule: FitSchedule, starts: Sequence[BodyParams | None],
              *, keypoint_schedule: FitSchedule | None = None,
              progress: Callable[[RegistrationProgress], None] | None = None, cancel: CancelToken | None = None,
              watch: int | None = None,
              ) -> list[tuple[PersonFit, int]] | None:
    """Register `people` from each of `starts` (None = the T-pose; else B rows in people's order) and keep
    each person's best fit; people without dense points use `keypoint_schedule` from the T-pose (default:
    `FitSchedule.keypoints_only` of the first stage). Returns (fit, index of its start) in people's order,
    or raises `Cancelled` (core/cancel.py). progress events count steps over all starts and groups (`total`:
    the steps still planned, shrinking when a group stops early); watch: index into people."""
    groups = _groups(people, schedule, keypoint_schedule or FitSchedule.keypoints_only(schedule.stages[0]), starts)
    best: dict[int, tuple[PersonFit, int]] = {}
    done = 0
    for g, (rows, sched, (k, init)) in enumerate(groups):
        later = sum(s.steps for _, s, _ in groups[g + 1:])
        batch = collate([people[i] for i in rows], device=sched.device)
        init_rows = None if init is None else init.select(torch.as_tensor(rows))
        watched = [rows.index(watch)] if watch in rows else []

        def shifted(e: RegistrationProgress, offset: int = done, rows: list[int] = rows, later: int = later) -> None:
            progress(RegistrationProgress(offset + e.step, offset + e.total + later, e.losses,
                                          tuple(rows[w] for w in e.watched), e.vertices))

        result = register_schedule(body, batch, sched, init=init_rows, progress=shifted if progress else None,
                                   cancel=cancel, watch=watched)
        done += result.steps_done
        for i, fit in zip(rows, result.fits):
            if i not in best or fit_rank(fit) < fit_rank(best[i][0]):
                best[i] = (fit, k)
    return [best[i] for i in range(len(people))]


def _groups(people, schedule, keypoint_schedule, starts):
    """[(rows, schedule, (start index, init))]: per start, the people with dense points and (T-pose starts
    only) the keypoint-only people on their own schedule."""
    dense = [i for i, p in enumerate(people) if len(p.points)]
    sparse = [i for i, p in enumerate(people) if not len(p.points)]
    out = []
    for k, init in enumerate(starts):
        if init is None and sparse:
            out += [(dense, schedule, (k, init))] if dense else []
            out.append((sparse, keypoint_schedule, (k, init)))
        else:
            out.append((list(range(len(people))), schedule, (k, init)))
    return out


@dataclass(frozen=True)
class FitPlan:
    """How `fit_people` fits: the schedule (or one RegistrationSettings, run as one stage), the start
    (START_CHOICES; with "auto", chunks that start from their good fits run `FitSchedule.refit` of the
    schedule), cGAN depths {person_id: (17,) normalised} or None, the round index stored with the fits,
    people per chunk, and the regressor file for start="predictions" (None: the latest round's)."""

    schedule: FitSchedule | RegistrationSettings
    start: str = "tpose"
    depths: dict | None = None
    round_index: int = 0
    chunk_size: int = 256
    regressor: str | None = None

    @property
    def stages(self) -> FitSchedule:
        s = self.schedule
        return s if isinstance(s, FitSchedule) else FitSchedule.single(s)


def fit_people(project, template: Template, person_ids: Sequence[int], plan: FitPlan, *,
               progress: Callable[[PipelineProgress], None] | None = None, cancel: CancelToken | None = None,
               watch_pid: int | None = None) -> FitSummary:
    """Fit people of an open `Project` and save the fits (module docstring). People that cannot be fitted
    are listed in `skipped`. A cancelled call raises `Cancelled` whose `done` is the FitSummary of the
    chunks saved before it; the cancelled chunk's fits are not saved."""
    started = time.perf_counter()
    if plan.chunk_size < 1:
        raise ValueError(f"chunk size must be >= 1, got {plan.chunk_size}")
    body, fit_body = BodyModel(template), BodyModel(template)  # register() moves fit_body to the device
    ready, skipped = fittable_people(project, person_ids)
    summary = FitSummary(skipped=skipped)
    key = ensure_correspondences(project, template, np.array(ready, np.int64))
    schedule = plan.stages
    chunks = _chunks(project, ready, plan)
    for c, chunk in enumerate(chunks):
        raise_if_cancelled(cancel, f"fitting before chunk {c + 1} of {len(chunks)}", summary)
        people = persons_from_project(project, chunk, key, plan.depths)
        init = start_params(project, chunk, plan.start, device=schedule.device, regressor=plan.regressor)
        sched = FitSchedule.refit(schedule) if plan.start == "auto" and init is not None else schedule
        watch = chunk.index(watch_pid) if watch_pid in chunk else (0 if c == 0 else None)
        report = None if progress is None else _reporter(progress, c, len(chunks), chunk)
        try:
            fits = fit_chunk(fit_body, people, sched, [init], progress=report, cancel=cancel, watch=watch)
        except Cancelled as exc:
            summary.seconds = time.perf_counter() - started
            raise Cancelled(f"{exc} (chunk {c + 1} of {len(chunks)})", summary) from exc
        records = [fit_record(f, p, body, plan.round_index, k) for (f, k), p in zip(fits, people)]
        project.save_fits(records)
        for (f, _), r in zip(fits, records):
            summary.failed += f.failed
            summary.fitted += not f.failed
            summary.converged += f.converged
            summary.quality[r.metrics["quality"]] = summary.quality.get(r.metrics["quality"], 0) + 1
    summary.seconds = time.perf_counter() - started
    return summary


def _chunks(project, ready: list[int], plan: FitPlan) -> list[list[int]]:
    """`ready` in chunks of `plan.chunk_size`; with the "auto" start, people with a good current fit
    (`warm_fit`) come first and never share a chunk with the rest, so each person is refined from its own fit
    or fitted from the T-pose, whoever else is in the call."""
    groups = [ready]
    if plan.start == "auto":
        warm = {p for p in ready if warm_fit(project, p) is not None}
        groups = [g for g in ([p for p in ready if p in warm], [p for p in ready if p not in warm]) if g]
    return [g[i:i + plan.chunk_size] for g in groups for i in range(0, len(g), plan.chunk_size)]


def _reporter(progress, c: int, n: int, chunk: list[int]) -> Callable[[RegistrationProgress], None]:
    def report(e: RegistrationProgress) -> None:
        losses = {name: _finite_mean(v) for name, v in e.losses.items()}
        verts = None if e.vertices is None else np.asarray(e.vertices[0], np.float64)
        progress(PipelineProgress(c, n, e.step, e.total, losses, None if not e.watched else chunk[e.watched[0]], verts))
    return report


def _finite_mean(values: np.ndarray) -> float:
    """Mean of the finite entries (NaN when none): np.nanmean without its warning machinery, many times
    faster on the one-person arrays of a single fit's events."""
    finite = [v for v in values.tolist() if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def lift_depths(project, person_ids: Sequence[int], lifter: str) -> dict[int, np.ndarray]:
    """{person_id: (17,) cGAN depths in the person's normalised frame} from the lifter file `lifter` (a
    `save_lifter` file from any project or round)."""
    from deformlearn.core.lifting.cgan import lift, load_lifter
    from deformlearn.core.registration.data import square_box

    generator = load_lifter(lifter)
    records = [project.person(int(pid)) for pid in person_ids]
    if not records:
        return {}
    depths = lift(generator, np.stack([r.keypoints for r in records]).astype(np.float32))
    return {int(pid): (d / square_box(r.bbox)[1]).astype(np.float32) for pid, r, d in zip(person_ids, records, depths)}
