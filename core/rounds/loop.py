"""The deform-and-learn loop (paper section 3): one round = cGAN, registration, regressor, evaluation.

`run_round(project, settings)` runs round k = (last finished round) + 1 in four stages, each writing its
results into the project as it goes, so that a round killed at any moment resumes with `resume=True`:

1. lifting: train the cGAN on the training people's 2D keypoints (warm-started from the latest earlier generator;
   from round 2 with the joint loss towards round k-1's registered keypoints), then lift every person's
   keypoints; skipped (lifter "skipped") in a later round that starts from an earlier regressor without
   `later_round_depths`, whose registration would not read the depths. A project with fewer than
   `LiftingSettings.min_people` keypoint poses (an IUV project with a few detected people) lifts with the
   synthetic lifter instead (core/lifting/synthetic_lifter.py, trained once and cached), saying so in a progress
   message and the round's metrics ("lifter", "lifter_note"); `lifter_file` forces a file, "synthetic" or "none"
   (no depths). Writes models/round_KKK/lifter.pt (when it lifts) and
   arrays/rounds/round_KKK/{lifted_ids,lifted_depths}.npy (depths in each person's normalised frame), then marks
   the stage done. A kill inside it redoes it.
2. registration: fit every person with dense points or enough keypoints (keypoint-only people on the
   keypoint schedule of the fit pipeline), in chunks; round 1 from the T-pose on the single fit's staged
   schedule (`staged_first_round`; the paper: the stiff settings alone) and the cGAN depths, later rounds
   from the latest earlier regressor (and the person's current fit), with the cGAN depths only when
   `later_round_depths`; a later round with no earlier regressor (the rounds before it stopped after
   lifting) registers as round 1 does. A new fit becomes current, except in such T-pose rounds where the
   person's good current fit (a single fit) stays current when it is better (`keeps_current`,
   `keep_better_fits`); it is stored in the history either way. Each chunk's fits are committed in one
   transaction; a resumed stage skips the people that already have a round-k fit.
3. regressor: the training people are fixed first (current fits that converged: round k's, a better fit
   kept or one a reviewer accepted; minus those a reviewer rejected; only accepted ones with
   `only_accepted`; minus the held-out split) and written to arrays/rounds/round_KKK/regressor_ids.npy;
   training checkpoints to models/round_KKK/regressor.ckpt (atomic) and resumes from it; the final model
   goes to models/round_KKK/regressor.pt.
4. evaluation: metrics into the rounds table (see `round_metrics`), and the round is marked finished.

A stage's "done" mark is written only after its files are in place (all writes atomic), so a resumed round
never reads half-written data. Stage states live in the rounds table: {"lifting": "done", ...}.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.cancel import Cancelled, CancelToken, check_token
from deformlearn.core.densepose.correspondence import template_key
from deformlearn.core.distributed import SINGLE, DistContext
from deformlearn.core.lifting.cgan import (
    DepthGenerator,
    average_skeleton_from_template,
    lift,
    load_lifter,
    save_lifter,
    train_lifter,
)
from deformlearn.core.lifting.synthetic_lifter import synthetic_lifter, synthetic_lifter_path
from deformlearn.core.project.importing import load_project_template
from deformlearn.core.project.records import FitRecord, ProjectError, RoundRecord
from deformlearn.core.project.store import Project
from deformlearn.core.registration.data import persons_from_project, square_box
from deformlearn.core.registration.fitter import BodyParams
from deformlearn.core.registration.pipeline import (
    MIN_KEYPOINTS,
    ensure_correspondences,
    fit_chunk,
    fit_record,
    keypoint_error_of,
)
from deformlearn.core.registration.schedule import FitSchedule
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.regressor.data import samples_from_project
from deformlearn.core.regressor.training import load_regressor, predict, save_regressor, train_regressor
from deformlearn.core.rounds.metrics import evaluate_round, fit_keypoints_camera, holdout_mask
from deformlearn.core.rounds.settings import RoundSettings

STAGES = ("lifting", "registration", "regressor", "evaluation")


class RoundError(ValueError):
    """A round cannot run as asked (an interrupted round without resume, nobody to register...)."""


@dataclass(frozen=True)
class RoundProgress:
    """One progress event: `step` of `total` in `stage` of round `round_index`; losses: name -> float."""

    round_index: int
    stage: str
    step: int
    total: int
    losses: dict = field(default_factory=dict)
    eta_s: float | None = None
    message: str | None = None  # a note for the user (e.g. which lifter the round uses and why)


def model_file(round_index: int, name: str) -> str:
    """Project-relative path of a round's model file ("models/round_001/regressor.pt")."""
    return f"models/round_{round_index:03d}/{name}"


def array_name(round_index: int, name: str) -> str:
    """Name under arrays/ of a round's array ("rounds/round_001/lifted_depths")."""
    return f"rounds/round_{round_index:03d}/{name}"


def keeps_current(current: FitRecord | None, new: FitRecord) -> bool:
    """Whether the person's current fit stays current over a round's new fit `new` (`keep_better_fits`):
    the current fit converged, was judged "good" and was not rejected, and `new` failed, was judged worse
    than "good", or has a larger residual (dense error px of the 256 frame; keypoint error for people
    without dense points). Fits of different schedules have losses of different weights, so the residual
    decides, not the loss."""
    if current is None or current.status != "converged" or current.review_status == "rejected" \
            or current.metrics.get("quality") != "good":
        return False
    if new.status != "converged" or new.metrics.get("quality") != "good":
        return True
    return not _residual(new) <= _residual(current)


def _residual(fit: FitRecord) -> float:
    """A fit's mean 2D residual in px of the 256 frame: dense error, or keypoint error without dense points."""
    if fit.metrics.get("num_points", 0) > 0:
        return float(fit.metrics.get("error", float("nan")))
    value = keypoint_error_of(fit.metrics)
    return float("nan") if value is None else value


def round_to_run(project: Project, resume: bool) -> int:
    """The index of the round `run_round` would run: an unfinished round when resuming, else the next."""
    rounds = project.rounds()
    unfinished = [r.index for r in rounds if r.finished_at is None]
    if unfinished:
        if not resume:
            raise RoundError(f"{project.root}: round {unfinished[-1]} was interrupted; resume it (--resume)")
        return unfinished[-1]
    return (rounds[-1].index + 1) if rounds else 1


class _Round:
    """One round's shared context: the project, template, people, settings and callbacks."""

    def __init__(self, project: Project, settings: RoundSettings, index: int, progress, cancel,
                 dist: DistContext) -> None:
        self.project, self.settings, self.index, self.dist = project, settings, index, dist
        self.progress = progress if dist.is_main else None
        self.cancel = cancel
        self.template = load_project_template(project)
        self.body = BodyModel(self.template)
        self.judge_body = BodyModel(self.template)  # stays on the CPU (register() moves self.body to the device)
        if dist.is_main:  # a person with unusable data is left out (and marked), never the round
            project.mark_unusable_data()
        dist.barrier()
        self.ids = project.person_ids(usable_only=True)
        if len(self.ids) == 0:
            raise RoundError(f"{project.root}: the project has no usable people")
        records = [project.person(int(p)) for p in self.ids]
        self.keypoints_px = np.stack([r.keypoints for r in records]).astype(np.float32)
        boxes = [square_box(r.bbox) for r in records]
        self.centre = np.stack([b[0] for b in boxes]).astype(np.float32)
        self.half = np.array([b[1] for b in boxes], dtype=np.float32)
        self.has_dense = np.array([r.dense is not None and len(r.dense) > 0 for r in records])
        #: people registration fits: dense points, or enough keypoints to fit on them alone
        self.fittable = self.has_dense | ((self.keypoints_px[..., 2] > 0).sum(1) >= MIN_KEYPOINTS)
        self.has_gt = project.ground_truth(int(self.ids[0])) is not None
        self.held_out = holdout_mask(self.ids, settings.holdout_fraction if self.has_gt else 0.0,
                                     settings.split_seed)
        self.key = template_key(self.template)
        if dist.is_main:
            ensure_correspondences(project, self.template, self.ids[self.fittable])
        dist.barrier()

    def path(self, rel: str) -> Path:
        return self.project.root / rel

    def report(self, stage: str, step: int, total: int, losses: dict, started: float,
               eta_s: float | None = None) -> None:
        """Send a progress event; the ETA is extrapolated from `started` unless the stage knows it better."""
        if self.progress is None:
            return
        if eta_s is None:
            eta_s = (time.monotonic() - started) / max(step, 1) * (total - step)
        self.progress(RoundProgress(self.index, stage, step, total, dict(losses), eta_s))

    def note(self, stage: str, message: str) -> None:
        """Tell the user something about `stage` (a progress event carrying `message`)."""
        if self.progress is not None:
            self.progress(RoundProgress(self.index, stage, 0, 0, {}, None, message))

    def check_cancel(self, where: str) -> None:
        if self.dist.broadcast(self.cancel is not None and self.cancel.cancelled):
            raise Cancelled(f"round {self.index} cancelled during {where}")

    def previous_model(self, name: str) -> Path | None:
        for r in reversed(self.project.rounds()):
            if r.index < self.index and name in r.models and self.path(r.models[name]).is_file():
                return self.path(r.models[name])
        return None

    # -- stage 1 ---------------------------------------------------------------------------------------
    def lifting(self) -> None:
        generator, source, note = self.round_lifter()
        models: dict[str, str] = {}
        ids, depths = self.ids[:0], np.zeros((0, 17), np.float32)
        if generator is not None:
            rel = model_file(self.index, "lifter.pt")
            save_lifter(generator, self.path(rel))
            models = {"lifter": rel}
            ids, depths = self.ids, lift(generator, self.keypoints_px) / self.half[:, None]
        self.project.write_array(array_name(self.index, "lifted_ids"), ids)
        self.project.write_array(array_name(self.index, "lifted_depths"), depths.astype(np.float32))
        self.project.update_round(self.index, stages={"lifting": "done"}, models=models,
                                  metrics={"lifter": source, "lifter_note": note})

    def round_lifter(self) -> tuple[DepthGenerator | None, str, str]:
        """The lifter of this round, where it comes from ("project", "file", "synthetic", "none": depths off,
        or "skipped": registration would not read them, `depths_unused`) and a note saying why (empty when the
        project trains its own). `settings.lifter_file`: None = skip when the depths go unused, else train on
        the project's keypoints when it has `lifting.min_people` poses with `min_visible` keypoints, else the
        synthetic lifter; "synthetic" / "none" force those; anything else is a lifter file (these three also
        in rounds whose registration does not read the depths)."""
        choice, lifting = self.settings.lifter_file, self.settings.lifting
        if choice is None and self.depths_unused():
            note = (f"no cGAN in round {self.index}: it registers from an earlier round's regressor without cGAN "
                    "depths (later_round_depths is off), so a lifter would go unused")
            self.note("lifting", note)
            return None, "skipped", note
        train = ~self.held_out
        usable = int(((self.keypoints_px[train][..., 2] > 0).sum(1) >= lifting.min_visible).sum())
        if choice is None and usable >= lifting.min_people:
            return self.train_own_lifter(train), "project", ""
        if choice == "none":
            note = "no lifter (--lifter none): registration fits without cGAN depths"
        elif choice not in (None, "synthetic"):
            note = f"lifting with {choice}"
        else:
            why = "--lifter synthetic" if choice else (
                f"{usable} of the project's training people have >= {lifting.min_visible} keypoints, fewer than the "
                f"{lifting.min_people} its own cGAN needs (import or detect keypoints for more, or give --lifter FILE)")
            average = average_skeleton_from_template(self.template)
            path = synthetic_lifter_path(average, lifting)
            how = "cached" if path.is_file() else "training it once; later rounds and projects reuse it"
            note = f"{why}: lifting with the synthetic lifter {path} ({how})"
        self.note("lifting", note)  # before a synthetic lifter trains: the user learns why the stage takes long
        if choice == "none":
            return None, "none", note
        if choice not in (None, "synthetic"):
            return load_lifter(choice), "file", note
        started = time.monotonic()
        fallback = synthetic_lifter(average, lifting, cancel=self.cancel,
                                    progress=lambda e: self.report("lifting", e.step, e.total, e.losses, started))
        return fallback.generator, "synthetic", note

    def starting_regressor(self) -> Path | None:
        """The earlier regressor this round's registration starts from (None in round 1, or when the rounds
        before it trained none: then people start from the T-pose, registered as round 1 registers them)."""
        return None if self.index == 1 else self.previous_model("regressor")

    def reads_depths(self) -> bool:
        """Whether this round's registration fits the cGAN depths: from the T-pose always, from an earlier
        regressor with `later_round_depths`."""
        return self.starting_regressor() is None or self.settings.later_round_depths

    def depths_unused(self) -> bool:
        """Whether this round lifts for nothing: its registration runs and will not read the depths (a round
        of the lifting stage alone still lifts)."""
        return "registration" in self.settings.stages and not self.reads_depths()

    def train_own_lifter(self, train: np.ndarray) -> DepthGenerator:
        """Train the cGAN on the training people's keypoints (warm-started from the previous round's lifter of
        the same width; from round 2 with L_joint towards round k-1's registered keypoints)."""
        registered = None
        if self.index > 1:
            registered = self.registered_keypoints_px(self.index - 1)[train]
        previous = self.previous_model("lifter")
        warm = None if previous is None else load_lifter(previous).state_dict()
        if warm is not None and warm["net.0.weight"].shape[0] != self.settings.lifting.hidden:
            warm = None  # the previous round used another width: start afresh
        started = time.monotonic()
        return train_lifter(
            self.keypoints_px[train], self.settings.lifting,
            average_skeleton=average_skeleton_from_template(self.template), registered_joints3d=registered,
            progress=lambda e: self.report("lifting", e.step, e.total, e.losses, started),
            cancel=self.cancel, generator_state=warm).generator()

    def registered_keypoints_px(self, round_index: int) -> np.ndarray:
        """(P, 17, 3) a round's registered keypoints: x, y image pixels, z pixels (larger = farther);
        NaN rows for people without a usable fit in that round."""
        out = np.full((len(self.ids), 17, 3), np.nan, dtype=np.float32)
        fits = {f.person_id: f for f in self.project.fits(round_index) if f.status == "converged"}
        rows = [i for i, pid in enumerate(self.ids) if int(pid) in fits]
        if rows:
            kp = fit_keypoints_camera(self.body, [fits[int(self.ids[i])].params for i in rows], image_plane=True)
            out[rows, :, :2] = kp[..., :2] * self.half[rows, None, None] + self.centre[rows, None, :]
            out[rows, :, 2] = kp[..., 2] * self.half[rows, None]
        return out

    # -- stage 2 ---------------------------------------------------------------------------------------
    def registration(self) -> None:
        try:
            depth_ids = self.project.read_array(array_name(self.index, "lifted_ids"))
            depths = self.project.read_array(array_name(self.index, "lifted_depths"))
        except ProjectError as exc:  # damaged or gone since the lifting stage: lift again, never fit without
            if self.dist.active:  # ranks cannot agree on redoing a stage here: say which file it was
                raise
            self.note("registration", f"{exc}; lifting again")
            self.lifting()
            depth_ids = self.project.read_array(array_name(self.index, "lifted_ids"))
            depths = self.project.read_array(array_name(self.index, "lifted_depths"))
        previous = self.starting_regressor()
        first = previous is None
        use_depths = self.reads_depths()
        skipped = self.record().metrics.get("lifter") == "skipped"
        if use_depths and skipped and not self.dist.active:  # resumed with settings that read the depths
            self.note("registration", "this round's lifting was skipped under settings that did not read cGAN "
                                      "depths; lifting now")
            self.lifting()
            depth_ids = self.project.read_array(array_name(self.index, "lifted_ids"))
            depths = self.project.read_array(array_name(self.index, "lifted_depths"))
        depth_of = {int(p): d for p, d in zip(depth_ids, depths)} if use_depths else {}
        done = {f.person_id for f in self.project.fits(self.index)}
        todo = [int(p) for p in self.ids[self.fittable] if int(p) not in done]
        schedule = self.settings.registration_schedule(1 if first else self.index)
        regressor = None if first else load_regressor(previous, self.settings.device)
        steps = schedule.steps
        n_starts = 2 if regressor is not None and self.settings.restart_from_previous_fit else 1
        total = len(todo) * steps * n_starts
        started = time.monotonic()
        # With several ranks each fits its share of a chunk and cancels only between chunks (in step).
        inner_cancel = None if self.dist.active else self.cancel
        for start in range(0, len(todo), self.settings.registration_chunk):
            self.check_cancel("registration")
            whole = todo[start:start + self.settings.registration_chunk]
            chunk = self.dist.shard(whole)
            fits = self.register_chunk(chunk, depth_of, regressor, schedule, inner_cancel,
                                       start * steps * n_starts, total, started, len(whole)) if chunk else []
            gathered = self.dist.gather(fits)
            if self.dist.is_main:
                self.save_fits([f for part in gathered for f in part], from_scratch=first)
            self.dist.barrier()
        if self.dist.is_main:
            kept = sum(f.round_index != self.index for f in self.project.current_fits(sorted(done | set(todo))))
            self.project.update_round(self.index, stages={"registration": "done"},
                                      metrics={"registration_kept_previous": float(kept)})

    def save_fits(self, fits: list[FitRecord], from_scratch: bool) -> None:
        """Store a chunk's fits in one transaction; fits `from_scratch` (the T-pose start of round 1) with
        `keep_better_fits`: a fit worse than its person's good current fit (`keeps_current`) joins the
        history without becoming current."""
        rule = self.settings.keep_better_fits and from_scratch
        keep = [rule and keeps_current(self.project.current_fit(f.person_id), f) for f in fits]
        with self.project.transaction():
            self.project.save_fits([f for f, k in zip(fits, keep) if not k])
            self.project.save_fits([f for f, k in zip(fits, keep) if k], make_current=False)

    def register_chunk(self, chunk: list[int], depth_of: dict, regressor,
                       schedule: FitSchedule | RegistrationSettings, cancel, base: int, total: int, started: float,
                       chunk_size: int) -> list[FitRecord]:
        """Register people `chunk` through the fit pipeline on `schedule` (one RegistrationSettings: one
        stage): from the T-pose without a regressor, else from its prediction (and, with
        `restart_from_previous_fit`, also from their previous fit, keeping the start with the lower loss).
        Keypoint-only people start from the T-pose on the keypoint schedule."""
        if isinstance(schedule, RegistrationSettings):
            schedule = FitSchedule.single(schedule)
        people = persons_from_project(self.project, chunk, self.key, depth_of)
        starts: list[BodyParams | None] = [None]
        if regressor is not None:
            samples = samples_from_project(self.project, self.template, np.array(chunk), regressor.config.crop_size,
                                           regressor.config.crop_mode, template_key=self.key)
            out = predict(regressor, samples)
            starts = [BodyParams(out.pose, out.scales, out.rotation.reshape(-1, 9), out.cam_scale, out.translation)]
            previous = [self.previous_fit(p) for p in chunk]
            if self.settings.restart_from_previous_fit and all(f is not None for f in previous):
                starts.append(BodyParams.from_dicts([f.params for f in previous]))
        fits = fit_chunk(self.body, people, schedule, starts, cancel=cancel,
                         progress=lambda e: self.report("registration", base + round(e.step / e.total * chunk_size
                                                                                    * len(starts) * schedule.steps),
                                                        total, {name: float(np.mean(v)) for name, v in e.losses.items()},
                                                        started))
        return [fit_record(f, p, self.judge_body, self.index, k) for (f, k), p in zip(fits, people)]

    def previous_fit(self, person_id: int) -> FitRecord | None:
        """The fit a later round restarts a person from: the current one (what the regressor trained on: a
        kept better fit, a reviewer's choice) unless it failed or was rejected, else round k-1's fit."""
        current = self.project.current_fit(person_id)
        if current is not None and current.status == "converged" and current.review_status != "rejected":
            return current
        return self.project.latest_fit(person_id, self.index - 1)

    # -- stage 3 ---------------------------------------------------------------------------------------
    def training_ids(self) -> np.ndarray:
        """The regressor's training people: a converged, non-rejected current fit (an accepted older fit stays
        current over a round-k fit), only_accepted allowing, not held out."""
        fits = {f.person_id for f in self.project.current_fits(training=True)}
        excluded = set(self.project.person_ids(status="rejected").tolist())
        allowed = set(self.project.person_ids(status="accepted").tolist()) if self.settings.only_accepted else None
        keep = [int(p) for p, out in zip(self.ids, self.held_out)
                if not out and int(p) in fits and int(p) not in excluded and (allowed is None or int(p) in allowed)]
        return np.array(keep, dtype=np.int64)

    def regressor(self) -> None:
        stages = self.stages()
        self.dist.barrier()  # every rank has read the stage before the main one marks it "training"
        ids_name = array_name(self.index, "regressor_ids")
        if stages.get("regressor") != "training":
            ids = self.training_ids()
            if len(ids) == 0:
                why = "none is accepted" if self.settings.only_accepted else "all failed or were rejected"
                raise RoundError(f"{self.project.root}: round {self.index} has no fits to train the regressor on "
                                 f"({why})")
            if self.dist.is_main:
                self.project.write_array(ids_name, ids)
                self.project.update_round(self.index, stages={"regressor": "training"})
            self.dist.barrier()
        ids = self.project.read_array(ids_name)
        fits = {f.person_id: f for f in self.project.current_fits(ids)}
        config = self.settings.regressor.model
        samples = samples_from_project(self.project, self.template, ids, config.crop_size, config.crop_mode,
                                       template_key=self.key, params=[fits[int(p)].params for p in ids])
        previous = self.previous_model("regressor")
        init_from = None if previous is None else load_regressor(previous)
        if init_from is not None and init_from.config != config:
            init_from = None
        ckpt = self.path(model_file(self.index, "regressor.ckpt"))
        started = time.monotonic()
        result = train_regressor(samples, self.template, self.settings.regressor, checkpoint=ckpt,
                                 init_from=init_from, cancel=self.cancel, dist=self.dist,
                                 progress=lambda e: self.report("regressor", e.step, e.total, e.losses, started,
                                                                e.eta_s))
        rel = model_file(self.index, "regressor.pt")
        if self.dist.is_main:
            save_regressor(result.model, self.path(rel))
            self.project.update_round(self.index, stages={"regressor": "done"}, models={"regressor": rel})
            ckpt.unlink(missing_ok=True)

    # -- stage 4 ---------------------------------------------------------------------------------------
    def evaluation(self) -> None:
        dense = self.fittable
        metrics = evaluate_round(self.project, self.template, self.index, self.ids[dense], self.held_out[dense],
                                 self.key, self.has_gt, device=self.settings.device)
        self.project.update_round(self.index, stages={"evaluation": "done"}, metrics=metrics, finished=True)

    def record(self) -> RoundRecord:
        """This round's record as the project holds it now."""
        return next(r for r in self.project.rounds() if r.index == self.index)

    def stages(self) -> dict:
        return self.record().stages


def run_round(project: Project, settings: RoundSettings, *, resume: bool = False,
              progress: Callable[[RoundProgress], None] | None = None, cancel: CancelToken | None = None,
              dist: DistContext = SINGLE) -> RoundRecord:
    """Run (or with resume=True, finish) one round; returns its record with metrics and stage times.

    progress receives RoundProgress events; the cancel token is checked at least once per optimiser step;
    on cancel, `Cancelled` (core/cancel.py) is raised after the last consistent write.
    dist: under torchrun, every rank calls this with its own open Project on the same folder; rank 0 writes
    (module `distributed`), the cGAN and the evaluation run on rank 0 alone.
    """
    cancel = check_token(cancel, "run_round")
    problem = None
    index = 0
    if dist.is_main:
        try:
            index = round_to_run(project, resume)
            project.start_round(index)
            project.update_round(index, metrics={"settings": settings.to_dict()})
        except RoundError as exc:
            problem = str(exc)
    problem, index = dist.broadcast((problem, index))
    if problem is not None:
        raise RoundError(problem)
    old_threads = torch.get_num_threads()
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    try:
        ctx = _Round(project, settings, index, progress, cancel, dist)
        for stage in STAGES:
            if ctx.stages().get(stage) == "done" or stage not in settings.stages:
                continue
            ctx.check_cancel(stage)
            started, cpu_started = time.perf_counter(), time.process_time()
            if dist.is_main or stage in ("registration", "regressor"):
                getattr(ctx, stage)()
            if dist.is_main:  # CPU seconds (all threads) beside wall: on a shared machine the wall time lies
                project.update_round(index, metrics={f"seconds_{stage}": time.perf_counter() - started,
                                                     f"cpu_seconds_{stage}": time.process_time() - cpu_started})
            dist.barrier()
        if dist.is_main and "evaluation" not in settings.stages:  # a partial round (e.g. lifting only) ends here
            project.update_round(index, finished=True)
    finally:
        torch.set_num_threads(old_threads)
    return next(r for r in project.rounds() if r.index == index)


def round_history(project: Project) -> list[dict]:
    """One dict per finished round: its index and its metrics (without the settings)."""
    return [{"round": r.index, **{k: v for k, v in r.metrics.items() if k != "settings"}}
            for r in project.rounds() if r.finished_at is not None]
