"""Batched deformable registration of the rigged template to images (paper section 4, appendix section 3).

theta = [a (B, 23, 3) axis-angle, S (B, 24) segment scales, R (B, 9) free values -> Gram-Schmidt rotation
(body frame -> camera frame), s (B,) camera scale, t (B, 2) translation] is fitted for a whole batch at once
by Adam on L = w_dense L_dense + w_KP L_KP + w_scale L_scale + w_joint L_angle + w_det L_det (+ the
optional priors w_pose_prior L_prior and w_upright L_upright, 0 by default), in each
person's normalised frame (`registration_data`). Only corresponded vertices and the keypoints are skinned
per step. The batch loss is the sum over people, so a person's fit does not depend on who shares the batch
(padding is masked out; tests prove it).

Round 1 starts from the T-pose at several global orientations (rotations about the vertical axis, frontal
first), run as one bigger batch, and keeps the start with the lowest final loss per person: from a single
frontal start, a person seen from behind or the side sometimes ends in a wrong, twisted local minimum
(benchmarks/registration.py measures how often).

A person whose loss or parameters turn non-finite, or whose loss exceeds `divergence_loss`, is marked
failed: its gradients are zeroed and its parameters frozen; the rest of the batch goes on. With
`early_stop_rtol` set, a start whose loss has gone flat is frozen the same way (not failed), and the loop
ends once every start is frozen: a single person's fit (overhead-bound at batch 1) stops when done.

Cancellation: the `CancelToken` is checked before every step; once set, `register` raises `Cancelled`
(core/cancel.py) and returns nothing partial.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from deformlearn.core.body.camera import frontal_rotation, weak_perspective_project
from deformlearn.core.body.rotations import gram_schmidt_rotation
from deformlearn.core.body.skinning import (
    skin_with_basis,
)
from deformlearn.core.cancel import CancelToken, check_token, raise_if_cancelled
from deformlearn.core.registration.data import PIXELS_256_PER_UNIT, RegistrationBatch
from deformlearn.core.registration.objective import Objective
from deformlearn.core.registration.settings import RegistrationSettings

#: Names of the loss terms in progress events and results (plus "total", the weighted sum).
LOSS_TERMS = ("dense", "KP", "scale", "angle", "det", "prior", "upright")  # the last two only when weighted


@dataclass
class BodyParams:
    """Registration parameters of B people (torch, one device).

    pose: (B, 23, 3) axis-angle of joints 1..23; scales: (B, 24); rotation: (B, 9) row-major free values
    (body frame -> camera frame after Gram-Schmidt); scale: (B,) normalised units per metre; translation:
    (B, 2) normalised-frame position of the root joint.
    """

    pose: Tensor
    scales: Tensor
    rotation: Tensor
    scale: Tensor
    translation: Tensor

    def tensors(self) -> list[Tensor]:
        return [self.pose, self.scales, self.rotation, self.scale, self.translation]

    def select(self, rows: Tensor) -> BodyParams:
        return BodyParams(*(x[rows] for x in self.tensors()))

    def to_dicts(self) -> list[dict[str, np.ndarray]]:
        """Per person: pose (23, 3), scales (24,), rotation (3, 3) orthonormalised, scale (), translation (2,)."""
        rot = gram_schmidt_rotation(self.rotation.detach()).cpu().numpy()
        p, s, c, t = (x.detach().cpu().numpy() for x in (self.pose, self.scales, self.scale, self.translation))
        return [{"pose": p[b], "scales": s[b], "rotation": rot[b], "scale": np.asarray(c[b]), "translation": t[b]}
                for b in range(len(p))]

    @classmethod
    def from_dicts(cls, dicts: Sequence[dict], device: str | torch.device = "cpu") -> BodyParams:
        """Inverse of `to_dicts` (rotation may be (3, 3) or (9,))."""
        def stack(key: str, shape: tuple[int, ...]) -> Tensor:
            arrays = []
            for i, d in enumerate(dicts):
                a = np.asarray(d[key], dtype=np.float32)
                if a.size != int(np.prod(shape)):
                    raise ValueError(f"initial params {i}: '{key}' has shape {a.shape}, expected {shape}")
                arrays.append(a.reshape(shape))
            return torch.from_numpy(np.stack(arrays)).to(device)
        return cls(stack("pose", (23, 3)), stack("scales", (24,)), stack("rotation", (9,)),
                   stack("scale", ()), stack("translation", (2,)))


@dataclass(frozen=True)
class RegistrationProgress:
    """One progress event: step of total (a fit that stopped early ends with an event of total == step,
    repeating the step of the event before when that one fell on the same step).
    losses: term name (LOSS_TERMS + "total") -> (B,) unweighted per-person values of
    each person's best start so far; vertices: (P, V, 3) all template vertices of the watched people
    (`watch` indices into the batch), posed and turned by R, in the viewer frame (metres, y up, the camera
    on +z looking along -z: F^T R X with F = diag(1, -1, -1)), or None when nobody is watched."""

    step: int
    total: int
    losses: dict[str, np.ndarray]
    watched: tuple[int, ...]
    vertices: np.ndarray | None


@dataclass(frozen=True)
class PersonFit:
    """Result for one person. params: see `BodyParams.to_dicts`; losses: unweighted final terms + weighted
    "total"; dense_error_px / keypoint_error_px: mean 2D distance in pixels of a 256 x 256 frame over the
    person's square box; orientation: index of the kept start (rotation by 360 * i / num_orientations
    degrees about the vertical axis); steps: Adam steps the kept start ran (fewer than settings.steps when
    it stopped early or failed)."""

    person_id: object
    params: dict[str, np.ndarray]
    losses: dict[str, float]
    dense_error_px: float
    keypoint_error_px: float
    converged: bool
    failed: bool
    orientation: int
    steps: int


@dataclass(frozen=True)
class RegistrationResult:
    fits: list[PersonFit]
    steps_done: int
    seconds: float


def start_rotations(num: int, device: str | torch.device = "cpu") -> Tensor:
    """(num, 9) initial rotations: the frontal camera F times a turn of 2 pi k / num about the body's y."""
    phi = torch.arange(num, dtype=torch.float32) * (2 * math.pi / num)
    c, s, z, o = torch.cos(phi), torch.sin(phi), torch.zeros(num), torch.ones(num)
    yaw = torch.stack([c, z, s, z, o, z, -s, z, c], -1).reshape(num, 3, 3)
    return (frontal_rotation(num) @ yaw).reshape(num, 9).to(device)


def initial_params(body_model: torch.nn.Module, batch: RegistrationBatch, rotations: Tensor) -> BodyParams:
    """T-pose parameters, one row per batch row; rotations: (B, 9). The camera scale matches the vertical
    spread of the person's points and visible keypoints to the T-posed template's, and the translation
    their centroids (both are invariant to turns about the vertical axis)."""
    B, device = batch.size, batch.points.device
    pose = torch.zeros(B, 23, 3, device=device)
    scales = torch.ones(B, 24, device=device)
    with torch.no_grad():
        out = body_model(pose, scales, batch.vertex_index)
        model, _ = weak_perspective_project(torch.cat([out.vertices, out.keypoints], 1),
                                            gram_schmidt_rotation(rotations), torch.ones(B, device=device),
                                            torch.zeros(B, 2, device=device))
        target = torch.cat([batch.points, batch.keypoints], 1)
        m = torch.cat([batch.point_mask, batch.keypoint_visible], 1).to(model.dtype)
        count = m.sum(1).clamp_min(1.0)
        mean_t = (target * m[..., None]).sum(1) / count[:, None]
        mean_m = (model * m[..., None]).sum(1) / count[:, None]
        var_t = (((target[..., 1] - mean_t[:, 1:]) ** 2) * m).sum(1)
        var_m = (((model[..., 1] - mean_m[:, 1:]) ** 2) * m).sum(1)
        scale = torch.where(var_m > 0, (var_t / var_m.clamp_min(1e-12)).sqrt(), torch.ones_like(var_m))
        translation = mean_t - scale[:, None] * mean_m
    return BodyParams(pose, scales, rotations.clone(), scale, translation)


def _watched_vertices(body_model: torch.nn.Module, objective: Objective, rows: Tensor) -> np.ndarray:
    """(P, V, 3) viewer-frame meshes of the parameter rows `rows` (P,) at the objective's last evaluation,
    skinned from the joint maps it computed (no kinematics again: 40% of an event's cost)."""
    rot, transforms = objective.last_maps
    with torch.no_grad():
        verts = skin_with_basis(transforms[rows], body_model.skin_basis)
        to_viewer = frontal_rotation(1, device=rot.device).transpose(1, 2) @ rot[rows]
        return (verts @ to_viewer.transpose(1, 2)).cpu().numpy()


def register(
    body_model: torch.nn.Module,
    batch: RegistrationBatch,
    settings: RegistrationSettings,
    init: BodyParams | None = None,
    progress: Callable[[RegistrationProgress], None] | None = None,
    cancel: CancelToken | None = None,
    watch: Sequence[int] = (),
) -> RegistrationResult:
    """Fit every person of `batch` (module docstring).

    body_model: a BodyModel (moved to settings.device here); batch: targets (moved to settings.device);
    init: starting parameters (B rows), or None for the T-pose at settings.num_orientations orientations
    (with init given, one start per person). watch: batch indices whose full meshes go with each progress
    event. Returns one PersonFit per person, in batch order.
    """
    device = torch.device(settings.device)
    old_threads = torch.get_num_threads()
    if settings.num_threads > 0:
        torch.set_num_threads(settings.num_threads)
    try:
        torch.manual_seed(settings.seed)
        cancel = check_token(cancel, "register")
        return _register(body_model.to(device), batch.to(device), settings, init, progress, cancel,
                         tuple(watch), device)
    finally:
        torch.set_num_threads(old_threads)


def _register(body_model, batch, settings, init, progress, cancel, watch, device) -> RegistrationResult:
    started = time.perf_counter()
    B = batch.size
    if any(not 0 <= w < B for w in watch):
        raise ValueError(f"watch indices {watch} outside the batch of {B}")
    if init is None:
        M = settings.num_orientations
        rows = batch.repeat_interleave(M) if M > 1 else batch
        params = initial_params(body_model, rows, start_rotations(M, device).repeat(B, 1))
    else:
        M = 1
        if init.pose.shape[0] != B:
            raise ValueError(f"init has {init.pose.shape[0]} people, the batch {B}")
        params = BodyParams(*(x.detach().to(device, torch.float32).clone() for x in init.tensors()))
    run = _Run(body_model, batch, settings, params, M)
    last_step = -1
    for step in range(settings.steps):
        raise_if_cancelled(cancel, f"registration at step {step} of {settings.steps}")
        terms, total, finished = run.step(step)
        done = run.steps_run
        if progress is not None and (finished or (done != last_step and (
                done == settings.steps or done % settings.progress_every == 0))):
            best = _best_rows(run.history[-1], B, run.M)
            losses = {k: v.detach()[best].cpu().numpy() for k, v in terms.items()}
            losses["total"] = total.detach()[best].cpu().numpy()
            verts = _watched_vertices(body_model, run.objective, best[list(watch)]) if watch else None
            progress(RegistrationProgress(done, done if finished else settings.steps, losses, watch, verts))
            last_step = done
        if finished:
            break
    return _finish(run, batch, started)


class _Run:
    """The optimisation state of one `register` call: B people x M starts as rows b * M + m.

    failed (B*M,): rows whose loss or parameters turned non-finite or diverged; stopped (B*M,): rows stopped
    early on a plateau (settings.early_stop_rtol). Both are held: their gradients zeroed and their
    parameters put back after every update (`held_values`). steps (B*M,): the steps each held row ran (-1
    while it runs); steps_run: the steps the loop ran. history: the last converged_window + 1 total losses,
    (B*M,) each, +inf for failed rows.
    """

    def __init__(self, body_model, batch: RegistrationBatch, settings: RegistrationSettings, params: BodyParams,
                 M: int):
        self.body_model, self.batch, self.settings, self.B, self.M = body_model, batch, settings, batch.size, M
        device, n = params.pose.device, batch.size * M
        self.params, self.leaves = params, params.tensors()
        for x in self.leaves:
            x.requires_grad_(True)
        self.objective = Objective(body_model, batch, settings, M)
        self.optimizer = torch.optim.Adam(self.leaves, lr=settings.lr, **_adam_options(device))
        self.failed = torch.zeros(n, dtype=torch.bool, device=device)
        self.stopped = torch.zeros(n, dtype=torch.bool, device=device)
        self.held_values = [x.detach().clone() for x in self.leaves]
        self.history: list[Tensor] = []
        self.steps = torch.full((n,), -1, dtype=torch.long, device=device)
        self.steps_run = 0

    def _plateau(self, step: int) -> Tensor:
        """(B*M,) rows whose loss stayed within early_stop_rtol of its lowest over the last window + 1 steps."""
        st = self.settings
        if st.early_stop_rtol <= 0 or step < st.lr_warmup_steps + st.converged_window or (
                len(self.history) <= st.converged_window):
            return torch.zeros_like(self.failed)
        window = torch.stack(self.history)
        low = window.min(0).values
        return (window.max(0).values - low) < st.early_stop_rtol * low.abs()

    def step(self, step: int) -> tuple[dict[str, Tensor], Tensor, bool]:
        """One Adam step of every running row -> (terms at the step's start, total (B*M,), whether all are held)."""
        st, leaves, n = self.settings, self.leaves, self.B * self.M
        for group in self.optimizer.param_groups:
            group["lr"] = _learning_rate(st, step)
        self.optimizer.zero_grad(set_to_none=False)
        terms, total, _, _ = self.objective(self.params)
        bad = ~torch.isfinite(total) | (total > st.divergence_loss)
        for x in leaves:
            bad |= ~torch.isfinite(x.detach().reshape(n, -1)).all(1)
        self.history.append(torch.where(self.failed | bad, torch.full_like(total, math.inf), total.detach()))
        if len(self.history) > st.converged_window + 1:
            self.history.pop(0)
        was_held = self.failed | self.stopped
        self.failed |= bad
        self.stopped |= self._plateau(step) & ~self.failed
        held = self.failed | self.stopped
        newly = held & ~was_held
        count = int(held.sum())
        if count:
            with torch.no_grad():
                for x, f in zip(leaves, self.held_values):
                    f.copy_(_rows_where(newly, x, f))
                self.steps = torch.where(newly, torch.full_like(self.steps, step), self.steps)
            if count == n:
                return terms, total, True
            torch.where(held, torch.zeros_like(total), total).sum().backward()
            with torch.no_grad():
                for x in leaves:
                    x.grad.copy_(_rows_where(held, torch.zeros_like(x.grad), torch.nan_to_num(x.grad)))
        else:
            total.sum().backward()
        self.optimizer.step()
        self.steps_run += 1
        if count:
            with torch.no_grad():
                for x, f in zip(leaves, self.held_values):
                    x.copy_(_rows_where(held, f, x))
        return terms, total, False


def _adam_options(device: torch.device) -> dict:
    """The fused Adam kernel where torch has one for the device (2.5x faster than the default on CPU)."""
    return {"fused": True} if device.type in ("cpu", "cuda") else {}


def _learning_rate(settings: RegistrationSettings, step: int) -> float:
    """Adam's learning rate at a 0-based step: linear warm-up, then exponential decay to lr_end_fraction."""
    lr = settings.lr * settings.lr_end_fraction ** (step / max(settings.steps - 1, 1))
    if step < settings.lr_warmup_steps:
        lr *= (step + 1) / settings.lr_warmup_steps
    return lr


def _rows_where(rows: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Row-wise select: rows (B,) bool; a, b (B, ...) -> a where rows else b."""
    return torch.where(rows.reshape(-1, *([1] * (a.dim() - 1))), a, b)


def _best_rows(total: Tensor, B: int, M: int) -> Tensor:
    """(B * M,) losses -> (B,) row index of each person's lowest-loss start (non-finite counts as +inf)."""
    t = torch.nan_to_num(total.detach(), nan=math.inf).reshape(B, M)
    return torch.arange(B, device=total.device) * M + t.argmin(1)


def _finish(run: _Run, batch: RegistrationBatch, started: float) -> RegistrationResult:
    st, B, M, history = run.settings, run.B, run.M, run.history
    with torch.no_grad():
        terms, total, points_2d, kp_2d = run.objective(run.params)
        failed = run.failed | ~torch.isfinite(total) | (total > st.divergence_loss)
        best = _best_rows(torch.where(failed, torch.full_like(total, math.inf), total), B, M)
        rows = run.objective.rows
        pm = rows.point_mask.to(points_2d.dtype)
        dense_px = ((points_2d - rows.points).norm(dim=-1) * pm).sum(1) / pm.sum(1).clamp_min(1) * PIXELS_256_PER_UNIT
        km = rows.keypoint_visible.to(kp_2d.dtype)
        kp_px = ((kp_2d - rows.keypoints).norm(dim=-1) * km).sum(1) / km.sum(1).clamp_min(1) * PIXELS_256_PER_UNIT
        if len(history) > st.converged_window:
            change = (history[-1] - history[0]).abs() / history[-1].abs().clamp_min(1e-12)
            converged = ((change < st.converged_rtol) | run.stopped) & ~failed
        else:
            converged = run.stopped & ~failed
        ran = torch.where(run.steps < 0, torch.full_like(run.steps, run.steps_run), run.steps)
        chosen = run.params.select(best)
        values = {k: v[best].cpu().numpy() for k, v in terms.items()}
        values["total"] = total[best].cpu().numpy()
        sel = lambda x: x[best].cpu().numpy()  # noqa: E731
        start, ran = (best % M).cpu().numpy(), sel(ran)
        dense_px, kp_px, converged, failed = sel(dense_px), sel(kp_px), sel(converged), sel(failed)
    dicts = chosen.to_dicts()
    fits = [PersonFit(batch.person_ids[b], dicts[b], {k: float(v[b]) for k, v in values.items()},
                      float(dense_px[b]), float(kp_px[b]), bool(converged[b]), bool(failed[b]),
                      int(start[b]), int(ran[b])) for b in range(B)]
    return RegistrationResult(fits, run.steps_run, time.perf_counter() - started)
