"""Training the body regressor on registered fits (paper eq. 5-6): resumable, cancellable, with progress.

Loss per batch (mean over the people in it):
    alpha * L_regress + beta * L_dense + gamma * L_KP + delta * L_3D,   alpha = gamma = 1, beta = 10 (the paper's)
- L_regress: smooth-L1 summed over the 128 values of `regressor` layout, prediction against the registered
  fit: quaternions (prediction's sign matched to the target's, since q and -q are one rotation), log segment
  scales, the 9 values of the Gram-Schmidt rotation, log camera scale, translation;
- L_dense, L_KP: the registration's own losses (`registration_losses`) on the predicted body, posed by
  `BodyModel` and projected by the weak-perspective camera, in the person's normalised frame; L_KP's depth
  term pulls the hip-centred keypoint depths towards the registered fit's (which carry the cGAN's depths).
- L_3D (not in the paper; NBF's L_3D with the registration as its ground truth): mean over the 17 keypoints of
  the distance (metres) between the predicted and the registered body's hip-centred keypoints in the camera
  frame (R X), the quantity MPJPE measures; it weighs each joint's rotation by how far it moves the body.

Checkpoints are written atomically (temporary file in the same folder, fsync, os.replace) with the model,
the optimizer, the step counter and the random-generator state, so a resumed training continues the same run:
batches are drawn from a permutation seeded by (seed, epoch), so the resumed run skips exactly the batches
that were done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.template import Template
from deformlearn.core.cancel import Cancelled, CancelToken, check_token
from deformlearn.core.distributed import SINGLE, DistContext
from deformlearn.core.files.atomic import atomic_write
from deformlearn.core.files.torch_files import load_torch_file
from deformlearn.core.metrics import root_align
from deformlearn.core.registration.losses import (
    dense_loss,
    hip_centred_depths,
    keypoint_loss,
)
from deformlearn.core.regressor.augment import augment_batch, draw_augmentation, mirror_tables
from deformlearn.core.regressor.data import RegressorSamples
from deformlearn.core.regressor.network import (
    POSE_SLICE,
    BodyRegressor,
    RegressorConfig,
    RegressorOutput,
    decode_raw,
    params_to_raw,
)
from deformlearn.core.regressor.views import (
    SurfaceCache,
    ViewDraws,
    ViewTables,
    draw_views,
    novel_views,
    view_tables,
)


@dataclass(frozen=True)
class RegressorTrainingSettings:
    """Hyperparameters of one regressor training (defaults: the paper's, with the CPU backbone).

    checkpoint_every / progress_every: in optimiser steps. num_threads: torch CPU threads while training
    (0 leaves torch's setting alone; 1 is often fastest for small models on a busy machine).
    augment: change each training person at random, inputs and targets alike (`augment` module): scale
    by 1 +- augment_zoom, shift by up to augment_shift (normalised units), rotate in-plane by up to
    augment_rotation radians, flip horizontally with probability augment_flip (left/right swapped in parts,
    keypoints, scales and pose); and in the input only: drop up to a share augment_dropout of the points,
    cut a partial view with probability augment_partial, add noise of std augment_uv_noise to U, V.
    delta: the weight of L_3D (module docstring); 0 leaves it out, as the paper does.
    lr_decay: cosine-decay the learning rate from lr to 0 over the training's steps (else constant).
    min_steps: train at least this many optimiser steps (more epochs on a small training set).
    novel_views: the probability that a training person is shown from a new camera (`views` module: turned by
    up to view_yaw radians about their vertical axis, camera pitched and rolled by Gaussian angles of std
    view_pitch, view_roll, with view_points to all of the batch's width of visible points), and a share
    novel_poses of those also in a new pose (Gaussian noise of std view_pose radians on every joint's
    axis-angle); point architectures only (a ConvNet's crop cannot be re-rendered).
    """

    model: RegressorConfig = field(default_factory=RegressorConfig)
    epochs: int = 30
    batch_size: int = 30
    lr: float = 1e-4
    alpha: float = 1.0
    beta: float = 10.0
    gamma: float = 1.0
    delta: float = 0.0
    device: str = "cpu"
    seed: int = 0
    checkpoint_every: int = 50
    progress_every: int = 5
    num_threads: int = 0
    augment: bool = False
    augment_zoom: float = 0.1
    augment_shift: float = 0.08
    augment_rotation: float = 0.0
    augment_flip: float = 0.0
    augment_dropout: float = 0.0
    augment_partial: float = 0.0
    augment_uv_noise: float = 0.0
    lr_decay: bool = False
    min_steps: int = 0
    novel_views: float = 0.0
    view_yaw: float = math.pi
    view_pitch: float = 0.35
    view_roll: float = 0.25
    view_points: int = 20
    novel_poses: float = 0.0
    view_pose: float = 0.2

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every", "progress_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"RegressorTrainingSettings.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"RegressorTrainingSettings.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.novel_views <= 1.0 or self.view_points < 1:
            raise ValueError(f"RegressorTrainingSettings.novel_views must lie in [0, 1] and view_points be >= 1, "
                             f"got {self.novel_views} and {self.view_points}")
        if not 0.0 <= self.novel_poses <= 1.0 or self.view_pose < 0:
            raise ValueError(f"RegressorTrainingSettings.novel_poses must lie in [0, 1] and view_pose be >= 0, "
                             f"got {self.novel_poses} and {self.view_pose}")

    @classmethod
    def paper(cls, **changes) -> RegressorTrainingSettings:
        """ResNet50 on 224-px crops, Adam lr 1e-4, batch 30, 30 epochs; a checkpoint every 1,000 steps (one
        ResNet50 checkpoint with its Adam state is 296 MB: every 50 steps, the 45,000 steps of 45,000 people
        would write 270 GB, each file fsynced, against an estimated 1-2 s of GPU time per 50 steps)."""
        model = RegressorConfig(backbone="resnet50", input_mode=changes.pop("input_mode", "iuv"), crop_size=224)
        return replace(cls(model=model, checkpoint_every=1000), **changes)

    @classmethod
    def cpu_demo(cls, **changes) -> RegressorTrainingSettings:
        """The point-set architecture (64-px crops for the image ones), a higher learning rate so that a few
        epochs learn something, the full augmentation and a cosine-decayed learning rate: each round
        fine-tunes the previous round's regressor and ends at a small step, so that held-out MPJPE falls over
        rounds. Point-set because it was the best and the cheapest in `benchmarks/learning.py` (300 people,
        round 2, held-out MPJPE / PA-MPJPE: pointset 155 / 114 mm, nbf 176 / 133 mm; 0.034 s a step against
        0.1 for nbf and decomr and 0.2 for the convnet) and reads sparse COCO points exactly; the
        augmentation took its round-1 PA-MPJPE from 135 to 129 mm. Novel views, new poses and L_3D stay off:
        on 300 people none moved round-3 PA-MPJPE on either held-out set beyond the 7-24 mm that the training
        seed alone moves it (benchmarks/learning.py), and novel views double the training time. 80 epochs
        rather than 40 (2026-12-07): the round-3 regressor's held-out MPJPE / PA-MPJPE went from 112/88.4 to
        101/78.2 mm with 2,000 training people and from 153/113 to 148/106 with 215, falling every round at
        both scales, on the other distribution 192/122 -> 175/114 and 267/137 -> 257/137 (learning.py's
        epochs-80 variant); the regressor stage takes twice as long (about 5 minutes a round at 2,000)."""
        model = RegressorConfig(architecture=changes.pop("architecture", "pointset"), backbone="small",
                                input_mode=changes.pop("input_mode", "iuv"), crop_size=64)
        base = cls(model=model, epochs=80, batch_size=16, lr=1e-3, augment=True, lr_decay=True, augment_rotation=0.25,
                   augment_flip=0.5, augment_dropout=0.6, augment_partial=0.2, augment_uv_noise=0.02)
        return replace(base, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TrainingProgress:
    """One progress report: `step` of `total` optimiser steps done, the mean losses since the last report."""

    step: int
    total: int
    epoch: int
    losses: dict
    eta_s: float | None


@dataclass
class TrainingResult:
    """What `train_regressor` returns when it ran to the end (a cancelled run raises `Cancelled`)."""

    model: BodyRegressor
    steps: int
    history: list = field(default_factory=list)


def regressor_losses(output: RegressorOutput, batch: RegressorSamples, body: BodyModel,
                     settings: RegressorTrainingSettings) -> dict[str, torch.Tensor]:
    """The three loss terms and their weighted total (scalars, means over the batch) for one batch."""
    if not batch.has_targets:
        raise ValueError("regressor_losses: the samples carry no registered parameters to train on")
    target = params_to_raw(batch.pose, batch.scales, batch.rotation, batch.cam_scale, batch.translation)
    B = target.shape[0]
    q_pred = output.quaternions
    q_target = target[:, POSE_SLICE].reshape(B, -1, 4)
    q_pred = torch.where((q_pred * q_target).sum(-1, keepdim=True) < 0, -q_pred, q_pred)
    pred = torch.cat([q_pred.reshape(B, -1), output.scales.log(), output.rotation.reshape(B, 9),
                      output.cam_scale.log().reshape(B, 1), output.translation], dim=1)
    regress = F.smooth_l1_loss(pred, target, reduction="none").sum(-1)

    body_out = body(output.pose, output.scales, batch.vertex_index)
    projected, _ = weak_perspective_project(body_out.vertices, output.rotation, output.cam_scale,
                                            output.translation)
    dense = dense_loss(projected, batch.points, batch.point_mask)
    kp_2d, kp_depth = weak_perspective_project(body_out.keypoints, output.rotation, output.cam_scale,
                                               output.translation)
    depths = targets = None
    if batch.keypoint_depths is not None:
        depths, targets = hip_centred_depths(kp_depth), hip_centred_depths(batch.keypoint_depths)
    kp = keypoint_loss(kp_2d, batch.keypoints, batch.keypoint_visible, depths, targets)
    total = settings.alpha * regress + settings.beta * dense + settings.gamma * kp
    losses = {"regress": regress.mean(), "dense": dense.mean(), "kp": kp.mean()}
    if settings.delta > 0:
        joints = joint_loss_3d(body_out.keypoints, output.rotation, body, batch)
        total = total + settings.delta * joints
        losses["joints3d"] = joints.mean()
    return {"total": total.mean(), **losses}


def joint_loss_3d(keypoints: torch.Tensor, rotation: torch.Tensor, body: BodyModel,
                  batch: RegressorSamples) -> torch.Tensor:
    """L_3D: (B,) mean distance (metres) of the predicted to the registered hip-centred keypoints, camera frame.

    keypoints: (B, 17, 3) the predicted body's keypoints, body frame; rotation: (B, 3, 3) predicted body ->
    camera rotation; the registered body is posed from batch.pose, batch.scales (no gradient).
    """
    with torch.no_grad():
        target = root_align(body(batch.pose, batch.scales).keypoints @ batch.rotation.transpose(1, 2))
    return (root_align(keypoints @ rotation.transpose(1, 2)) - target).norm(dim=-1).mean(-1)


def mean_target_raw(samples: RegressorSamples) -> torch.Tensor:
    """(128,) the mean registered parameters in raw layout (the head's starting bias)."""
    return params_to_raw(samples.pose, samples.scales, samples.rotation, samples.cam_scale,
                         samples.translation).mean(0)


def save_checkpoint_atomic(state: dict, path: str | Path) -> None:
    """torch.save `state` to `path` through a temporary file in the same folder, fsync and os.replace."""
    atomic_write(path, lambda f: torch.save(state, f))


def save_regressor(model: BodyRegressor, path: str | Path) -> None:
    """Write a trained regressor (config + weights) atomically; read back with `load_regressor`."""
    save_checkpoint_atomic({"config": asdict(model.config), "state": model.state_dict()}, path)


def load_regressor(path: str | Path, device: str = "cpu") -> BodyRegressor:
    """A regressor written by `save_regressor` (weights-only load: never runs code from the file)."""
    path = Path(path)
    data = load_torch_file(path, "regressor", map_location=device)
    try:
        config = {"architecture": "convnet", **data["config"]}  # files from before architectures were a setting
        state = {("encoder." + k if k.startswith("backbone.") else k): v for k, v in data["state"].items()}
        model = BodyRegressor(RegressorConfig(**config), pretrained=False)
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: not a regressor file ({exc})") from exc
    return model.to(device).eval()


def train_regressor(samples: RegressorSamples, template: Template, settings: RegressorTrainingSettings, *,
                    checkpoint: str | Path | None = None, init_from: BodyRegressor | None = None,
                    progress: Callable[[TrainingProgress], None] | None = None,
                    cancel: CancelToken | None = None, dist: DistContext = SINGLE) -> TrainingResult:
    """Train a regressor on `samples` (which must carry registered targets).

    checkpoint: a file to save to every `checkpoint_every` steps, at the end and on cancel; when it exists
    and matches these settings, training resumes from it. init_from: start from this model's weights
    (a previous round's regressor) instead of a fresh one. cancel: checked before every step (rank 0's
    token decides for all ranks); a cancelled run saves the checkpoint, then raises `Cancelled`.
    dist: with an active process group, every rank
    calls this with the same samples and trains its share of each batch under DistributedDataParallel;
    only rank 0 writes the checkpoint; losses in the history are rank 0's share. Returns the model in eval
    mode.
    """
    if len(samples) == 0:
        raise ValueError("train_regressor: no training samples (no usable fits?)")
    cancel = check_token(cancel, "train_regressor")
    old_threads = torch.get_num_threads()
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    try:
        return _train(samples, template, settings, checkpoint, init_from, progress, cancel, dist)
    finally:
        torch.set_num_threads(old_threads)


def _train(samples, template, settings, checkpoint, init_from, progress, cancel, dist) -> TrainingResult:
    device = torch.device(settings.device)
    torch.manual_seed(settings.seed)  # the weights: a run is a function of its settings and data
    body = BodyModel(template).to(device)
    mirror = mirror_tables(template) if settings.augment and settings.augment_flip > 0 else None
    views = _novel_view_state(settings, body, samples, template)
    model = BodyRegressor(settings.model, mean_raw=mean_target_raw(samples), pretrained=init_from is None)
    if init_from is not None:
        if init_from.config != settings.model:
            raise ValueError(f"train_regressor: init_from has config {init_from.config}, settings want "
                             f"{settings.model}")
        model.load_state_dict(init_from.state_dict())
    model.to(device)
    net = DistributedDataParallel(model) if dist.active else model
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, foreach=True)
    P = len(samples)
    per_epoch = math.ceil(P / settings.batch_size)
    total = max(per_epoch * settings.epochs, settings.min_steps)
    step, history = 0, []
    if checkpoint is not None and Path(checkpoint).is_file():
        state = load_torch_file(checkpoint, "regressor checkpoint", map_location=device)
        if state.get("settings") != settings.to_dict() or state.get("num_samples") != P:
            raise ValueError(f"{checkpoint}: checkpoint was written with other settings or data; remove it "
                             f"to start over")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step, history = int(state["step"]), list(state["history"])

    def write_checkpoint() -> None:
        if checkpoint is not None and dist.is_main:
            save_checkpoint_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                    "rng": torch.get_rng_state(), "step": step, "history": history,
                                    "settings": settings.to_dict(), "num_samples": P}, checkpoint)

    model.train()
    started, start_step = time.monotonic(), step
    running: dict[str, torch.Tensor] = {}  # sums on the device: a GPU is synchronised once per report, not per step
    in_running = 0
    while step < total:
        epoch, in_epoch = divmod(step, per_epoch)
        gen = torch.Generator().manual_seed(settings.seed * 100003 + epoch)
        order = torch.randperm(P, generator=gen)
        index = order[in_epoch * settings.batch_size:(in_epoch + 1) * settings.batch_size]
        if dist.broadcast(cancel is not None and cancel.cancelled):
            write_checkpoint()
            raise Cancelled(f"regressor training at step {step} of {total} cancelled (checkpoint saved)")
        # This rank's share of the batch, its loss weighted so that DDP's average over ranks equals the
        # mean over the whole batch (an empty share still takes part, with weight 0).
        share = torch.arange(len(index))[dist.rank::dist.world_size]
        weight = len(share) * dist.world_size / len(index)
        share = share if len(share) else torch.arange(1)
        batch = samples.subset(index[share]).to(device)
        images = batch.crop_images(settings.model.crop_mode)
        if views is not None:
            draws = draw_views(len(index), samples.points.shape[1], body.num_vertices, settings, step)
            draws = ViewDraws(**{k: v[share].to(device) for k, v in draws.__dict__.items()})
            batch = novel_views(batch, body, draws, views[0], views[1].get(index[share]))
        if settings.augment:
            aug = draw_augmentation(len(index), samples.points.shape[1], settings, step).subset(share).to(device)
            inputs, batch = augment_batch(batch, images, aug, mirror, settings.model.crop_mode,
                                          settings.model.max_points)
        else:
            inputs = batch.model_inputs(settings.model, images)
        losses = regressor_losses(net(inputs), batch, body, settings)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(settings, step, total)
        optimizer.zero_grad(set_to_none=True)
        (losses["total"] * weight).backward()
        optimizer.step()
        step += 1
        for k, v in losses.items():
            running[k] = running[k] + v.detach() if k in running else v.detach()
        in_running += 1
        if step % settings.progress_every == 0 or step == total:
            means = {k: float(v) / in_running for k, v in running.items()}
            history.append({"step": step, **means})
            running, in_running = {}, 0
            if progress is not None:
                rate = (time.monotonic() - started) / max(step - start_step, 1)
                progress(TrainingProgress(step, total, epoch, means, rate * (total - step)))
        if step % settings.checkpoint_every == 0:
            write_checkpoint()
    write_checkpoint()
    return TrainingResult(model.eval(), step, history)


def _novel_view_state(settings: RegressorTrainingSettings, body: BodyModel, samples: RegressorSamples,
                      template: Template) -> tuple[ViewTables, SurfaceCache] | None:
    """The template's tables and the people's cached surfaces for novel views, or None without them."""
    if settings.novel_views <= 0 or settings.model.crop_mode is not None:
        return None
    tables = view_tables(template, body.rest_vertices.device)
    return tables, SurfaceCache(body, samples, tables)


def _learning_rate(settings: RegressorTrainingSettings, step: int, total: int) -> float:
    """The learning rate of optimiser step `step` (0-based) of `total`."""
    if not settings.lr_decay:
        return settings.lr
    return settings.lr * 0.5 * (1 + math.cos(math.pi * step / total))


@torch.no_grad()
def predict(model: BodyRegressor, samples: RegressorSamples, batch_size: int = 64) -> RegressorOutput:
    """Run the regressor over all samples (eval mode, no gradients); returns one RegressorOutput for all P."""
    model.eval()
    device = next(model.parameters()).device
    outs = []
    for start in range(0, len(samples), batch_size):
        batch = samples.subset(torch.arange(start, min(start + batch_size, len(samples))))
        outs.append(model(batch.model_inputs(model.config).to(device)).raw.cpu())
    return decode_raw(torch.cat(outs))
