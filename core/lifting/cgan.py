"""Multi-view cGAN that lifts COCO-17 2D keypoints to joint depths (appendix section 2).

Generator G and discriminator D are MLPs of eight linear layers. G maps a normalised 2D pose (see
`lifting_losses`: root-centred, divided by the RMS distance of the visible keypoints from the root; missing
keypoints imputed as 0, plus one visibility channel per keypoint: input 3K = 51) to K = 17 depths. The 3D
pose (x, y, G's z) is rotated about the vertical axis by every angle of `view_angles_deg`, projected
orthographically, re-normalised, and judged by D against real 2D poses.

Generator loss: L_G = eps L_adv + L_ratio + L_sym + w_facing L_facing + mu L_joint, with mu decaying
geometrically from `mu_start` to `mu_end` over the round when registered joints are given (rounds >= 2).
L_facing is our addition (`lifting_losses.facing_loss`): the paper's losses cannot tell a pose from its
depth-mirrored copy; `w_facing=0` gives the paper's loss exactly. Each step trains D once, then G once.

Output frame of `lift`: depths in the SAME pixel units as the input keypoints, relative to the root
(hip midpoint when both hips are visible), sign: larger z = FARTHER from the camera. So (x_px, y_px, z_px)
is a right-handed frame (x right, y down, z into the image) like OpenCV's camera frame, up to the
orthographic depth offset. Depths at invisible keypoints are G's guesses from the visible ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from deformlearn.core.body.skeletons import COCO_FLIP_INDEX, NUM_KEYPOINTS
from deformlearn.core.cancel import CancelToken, check_token, raise_if_cancelled
from deformlearn.core.files.atomic import atomic_write
from deformlearn.core.files.torch_files import load_torch_file
from deformlearn.core.lifting import losses as L
from deformlearn.core.shape_checks import check_shape

NUM_LINEAR_LAYERS = 8
PAPER_VIEW_ANGLES_DEG: tuple[float, ...] = (45.0, 60.0, 90.0, 135.0, 180.0, 235.0, 270.0)
_FILE_VERSION = 1


@dataclass(frozen=True)
class LiftingSettings:
    """Training settings of the lifting cGAN (defaults = the paper's numbers where it gives them)."""

    epochs: int = 50
    batch_size: int = 1024
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.5, 0.999)  # not in the paper; the usual GAN choice
    hidden: int = 1024  # width of the hidden layers (not in the paper; Kudo et al. use 1024)
    eps_adv: float = 0.1
    w_ratio: float = 1.0
    w_sym: float = 1.0
    w_facing: float = 3.0  # not in the paper (lifting_losses.facing_loss); 0 reproduces the paper exactly
    mu_start: float = 100.0
    mu_end: float = 1.0
    view_angles_deg: tuple[float, ...] = PAPER_VIEW_ANGLES_DEG
    flip_augment: bool = True  # add left/right mirrored copies of every training pose
    min_visible: int = 8  # poses with fewer visible keypoints are left out of training
    #: a round whose project has fewer training poses (with min_visible keypoints) than this lifts with the
    #: synthetic lifter (core/lifting/synthetic_lifter.py) instead of training its own; measured in
    #: benchmarks/lifter_fallback.py (a cGAN trained on 128 people matches the synthetic lifter; on 64 it is worse)
    min_people: int = 128
    seed: int = 0
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda", ...
    threads: int = 0  # CPU threads torch uses while training (0 = leave torch's setting)

    @classmethod
    def paper(cls) -> LiftingSettings:
        """The paper's numbers: Adam lr 2e-4, batch 1024, 50 epochs a round, eps 0.1, mu 100 -> 1 (needs a GPU
        for real data sets: one step took ~7 s on one CPU core)."""
        return cls()

    @classmethod
    def cpu_demo(cls) -> LiftingSettings:
        """Small and fast: 400 people (800 with mirrored copies) train in ~45 s on one free core (one torch
        thread: on a shared two-core machine that ran ~6x faster than two). 150 epochs rather than 50: held-out
        synthetic MPJPE 112 -> 105 mm (mean of 3 seeds); Human3.6M unchanged (benchmarks/lifting.py)."""
        return cls(epochs=150, batch_size=64, learning_rate=1e-3, hidden=128, device="cpu", threads=1)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.hidden < 1:
            raise ValueError(f"epochs, batch_size and hidden must be >= 1, got {self}")
        if self.mu_start <= 0 or self.mu_end <= 0:
            raise ValueError("mu_start and mu_end must be > 0 (mu decays geometrically)")
        if not self.view_angles_deg:
            raise ValueError("view_angles_deg must not be empty")
        if self.min_people < 1:
            raise ValueError(f"min_people must be >= 1, got {self.min_people}")


@dataclass(frozen=True)
class LiftingProgress:
    """One training step's report. losses: name -> value of this step (generator and discriminator)."""

    stage: str
    step: int
    total: int
    losses: Mapping[str, float]


@dataclass
class LiftingResult:
    """Trained networks (CPU state dicts), the settings used, and per-epoch mean losses."""

    generator_state: dict[str, torch.Tensor]
    discriminator_state: dict[str, torch.Tensor]
    settings: LiftingSettings
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def generator(self) -> DepthGenerator:
        gen = DepthGenerator(hidden=_hidden_of(self.generator_state))
        gen.load_state_dict(self.generator_state)
        return gen.eval()


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Sequential:
    """Eight linear layers, LeakyReLU between them."""
    layers: list[nn.Module] = []
    sizes = [n_in] + [hidden] * (NUM_LINEAR_LAYERS - 1) + [n_out]
    for i in range(NUM_LINEAR_LAYERS):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < NUM_LINEAR_LAYERS - 1:
            layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class DepthGenerator(nn.Module):
    """G: (B, 3K) normalised keypoints + visibility (`lifting_losses.network_input`) -> (B, K) depths."""

    def __init__(self, hidden: int = 1024) -> None:
        super().__init__()
        self.net = _mlp(3 * NUM_KEYPOINTS, NUM_KEYPOINTS, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PoseDiscriminator(nn.Module):
    """D: (B, 3K) normalised 2D pose + visibility -> (B, 1) real/fake logit."""

    def __init__(self, hidden: int = 1024) -> None:
        super().__init__()
        self.net = _mlp(3 * NUM_KEYPOINTS, 1, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _hidden_of(state: Mapping[str, torch.Tensor]) -> int:
    return int(state["net.0.weight"].shape[0])


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _as_tensor(keypoints_2d: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(keypoints_2d) if not torch.is_tensor(keypoints_2d) else keypoints_2d)
    t = t.to(torch.float32)
    check_shape(t, ("B", NUM_KEYPOINTS, 3), f"{name} (x, y, visibility)")
    if not torch.all(torch.isfinite(t[..., :2][t[..., 2] > 0])):
        raise ValueError(f"{name}: non-finite coordinates at visible keypoints")
    return t


def _prepare(keypoints_2d: torch.Tensor, registered: torch.Tensor | None, settings: LiftingSettings):
    """Normalise the training poses; returns (xy (P,K,2), vis (P,K), target depth (P,K), target mask (P,K))."""
    xy, vis, root, scale = L.normalise_keypoints(keypoints_2d)
    target = torch.zeros_like(vis)
    tmask = torch.zeros_like(vis)
    if registered is not None:
        z = registered[..., 2]
        ok = torch.isfinite(z).all(1, keepdim=True).to(vis) * vis
        z = torch.nan_to_num(z)
        target = L.root_relative_depth(z, vis) / scale[:, None]
        tmask = ok
    if settings.flip_augment:
        flip = torch.tensor(COCO_FLIP_INDEX)
        xy_f = xy[:, flip] * torch.tensor([-1.0, 1.0])
        xy, vis = torch.cat([xy, xy_f]), torch.cat([vis, vis[:, flip]])
        target, tmask = torch.cat([target, target[:, flip]]), torch.cat([tmask, tmask[:, flip]])
    keep = vis.sum(1) >= settings.min_visible
    return xy[keep], vis[keep], target[keep], tmask[keep]


def _lift_normalised(gen: nn.Module, xy: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """(B, K, 2), (B, K) -> (B, K, 3) normalised-frame 3D pose with root-relative depth."""
    z = L.root_relative_depth(gen(L.network_input(xy, vis)), vis)
    return torch.cat([xy, z[..., None]], dim=-1)


def train_lifter(
    keypoints_2d: np.ndarray | torch.Tensor,
    settings: LiftingSettings,
    *,
    average_skeleton: np.ndarray | torch.Tensor,
    registered_joints3d: np.ndarray | torch.Tensor | None = None,
    progress: Callable[[LiftingProgress], None] | None = None,
    cancel: CancelToken | None = None,
    generator_state: Mapping[str, torch.Tensor] | None = None,
    discriminator_state: Mapping[str, torch.Tensor] | None = None,
) -> LiftingResult:
    """Train the cGAN for one round.

    keypoints_2d: (P, 17, 3) x, y in any pixel frame (y down), visibility (> 0 = visible).
    average_skeleton: (17, 3) COCO keypoints of the average body, any units (only bone ratios are used).
    registered_joints3d: (P, 17, 3) per-person registered 3D keypoints in the input's pixel frame and the
        lift convention (x, y as the keypoints, z relative to the root, larger = farther), rows with NaN =
        no registration; enables L_joint. generator_state / discriminator_state: warm start (a previous round).
    progress receives a LiftingProgress each step; the cancel token is checked before each step
    (`Cancelled`, see core/cancel.py; nothing is returned).
    """
    start = time.perf_counter()
    cancel = check_token(cancel, "train_lifter")
    kp = _as_tensor(keypoints_2d, "keypoints_2d")
    avg = torch.as_tensor(np.asarray(average_skeleton, dtype=np.float32))
    check_shape(avg, (NUM_KEYPOINTS, 3), "average_skeleton")
    reg = None
    if registered_joints3d is not None:
        reg = torch.as_tensor(np.asarray(registered_joints3d, dtype=np.float32))
        check_shape(reg, tuple(kp.shape), "registered_joints3d")
    xy, vis, target, tmask = _prepare(kp, reg, settings)
    if xy.shape[0] == 0:
        raise ValueError(f"keypoints_2d: no pose has >= {settings.min_visible} visible keypoints")

    threads_before = torch.get_num_threads()
    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    try:
        return _train(xy, vis, target, tmask, avg, settings, reg is not None, progress, cancel,
                      generator_state, discriminator_state, start)
    finally:
        torch.set_num_threads(threads_before)


def _train(xy, vis, target, tmask, avg, settings: LiftingSettings, has_registered: bool, progress, cancel,
           generator_state, discriminator_state, start: float) -> LiftingResult:
    """The training loop of `train_lifter` on prepared (normalised) data."""
    dev = _device(settings.device)
    torch.manual_seed(settings.seed)
    gen, disc = DepthGenerator(settings.hidden).to(dev), PoseDiscriminator(settings.hidden).to(dev)
    if generator_state is not None:
        gen.load_state_dict(generator_state)
    if discriminator_state is not None:
        disc.load_state_dict(discriminator_state)
    opt_g = torch.optim.Adam(gen.parameters(), lr=settings.learning_rate, betas=settings.adam_betas, foreach=True)
    opt_d = torch.optim.Adam(disc.parameters(), lr=settings.learning_rate, betas=settings.adam_betas, foreach=True)
    xy, vis, target, tmask, avg = (t.to(dev) for t in (xy, vis, target, tmask, avg))

    n = xy.shape[0]
    batch = min(settings.batch_size, n)
    steps_per_epoch = math.ceil(n / batch)
    total = settings.epochs * steps_per_epoch
    use_joint = has_registered and bool(tmask.any())
    rng = torch.Generator(device="cpu").manual_seed(settings.seed)
    history: list[dict[str, float]] = []
    step = 0
    for _epoch in range(settings.epochs):
        perm = torch.randperm(n, generator=rng).to(dev)
        sums: dict[str, float] = {}
        for b in range(steps_per_epoch):
            raise_if_cancelled(cancel, f"lifting at step {step} of {total}")
            idx = perm[b * batch:(b + 1) * batch]
            real_idx = torch.randint(0, n, (idx.shape[0],), generator=rng).to(dev)
            mu = settings.mu_start * (settings.mu_end / settings.mu_start) ** (step / max(total - 1, 1))
            losses = _train_step(gen, disc, opt_g, opt_d, settings, avg, mu if use_joint else 0.0,
                                 xy[idx], vis[idx], target[idx], tmask[idx], xy[real_idx], vis[real_idx])
            step += 1
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v
            if progress is not None:
                progress(LiftingProgress("lifting", step, total, losses))
        history.append({k: v / steps_per_epoch for k, v in sums.items()})
    return LiftingResult(
        generator_state={k: v.detach().cpu() for k, v in gen.state_dict().items()},
        discriminator_state={k: v.detach().cpu() for k, v in disc.state_dict().items()},
        settings=settings, history=history, seconds=time.perf_counter() - start,
    )


def _train_step(gen, disc, opt_g, opt_d, settings: LiftingSettings, avg: torch.Tensor, mu: float,
                xy, vis, target, tmask, real_xy, real_vis) -> dict[str, float]:
    """One discriminator step and one generator step on a batch; returns the losses as floats."""
    pose3d = _lift_normalised(gen, xy, vis)
    fake = L.project_views(pose3d, vis, settings.view_angles_deg)
    real = L.network_input(real_xy, real_vis)
    loss_d = L.adversarial_loss(disc(real), True) + L.adversarial_loss(disc(fake.detach()), False)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    disc.requires_grad_(False)  # G's step needs D's input gradients only, not its weights'
    adv = L.adversarial_loss(disc(fake), True)
    disc.requires_grad_(True)
    ratio = L.ratio_loss(pose3d, vis, avg)
    sym = L.symmetry_loss(pose3d, vis)
    facing = L.facing_loss(pose3d, vis)
    joint = L.joint_loss(pose3d[..., 2], target, tmask) if mu > 0 else pose3d.new_zeros(())
    loss_g = (settings.eps_adv * adv + settings.w_ratio * ratio + settings.w_sym * sym
              + settings.w_facing * facing + mu * joint)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"generator": loss_g.item(), "adversarial": adv.item(), "ratio": ratio.item(), "symmetry": sym.item(),
            "facing": facing.item(), "joint": joint.item(), "mu": mu, "discriminator": loss_d.item()}


@torch.no_grad()
def lift(model: DepthGenerator | LiftingResult, keypoints_2d: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Depths of keypoints: (P, 17, 3) pixels + visibility -> (P, 17) depths in the input's pixel units,
    root-relative, larger = farther from the camera (module docstring). Returns numpy for numpy input,
    a tensor (on the input's device) for tensor input. Poses with no visible keypoint get zeros."""
    gen = model.generator() if isinstance(model, LiftingResult) else model
    is_tensor = torch.is_tensor(keypoints_2d)
    kp = _as_tensor(keypoints_2d, "keypoints_2d")
    dev = next(gen.parameters()).device
    xy, vis, _, scale = L.normalise_keypoints(kp.to(dev))
    was_training = gen.training
    gen.eval()
    z = _lift_normalised(gen, xy, vis)[..., 2] * scale[:, None]
    gen.train(was_training)
    z = torch.where(vis.sum(1, keepdim=True) > 0, z, torch.zeros_like(z))
    return z.to(keypoints_2d.device) if is_tensor else z.cpu().numpy()


def save_lifter(model: DepthGenerator | LiftingResult, path: str | Path) -> None:
    """Write the generator (state dict + width) to `path` atomically; read back with `load_lifter`."""
    gen = model.generator() if isinstance(model, LiftingResult) else model
    state = {k: v.detach().cpu() for k, v in gen.state_dict().items()}
    payload = {"format": "deformlearn-lifter", "version": _FILE_VERSION, "hidden": _hidden_of(state), "state": state}
    atomic_write(path, lambda f: torch.save(payload, f))


def load_lifter(path: str | Path, device: str = "cpu") -> DepthGenerator:
    """Read a generator written by `save_lifter` (torch.load with weights_only=True; never runs code)."""
    path = Path(path)
    payload = load_torch_file(path, "lifter", map_location=device)
    if not isinstance(payload, dict) or payload.get("format") != "deformlearn-lifter":
        raise ValueError(f"{path}: not a deformlearn lifter file")
    gen = DepthGenerator(hidden=int(payload["hidden"]))
    try:
        gen.load_state_dict(payload["state"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: lifter weights do not fit the generator ({exc})") from exc
    return gen.to(device).eval()


def average_skeleton_from_template(template) -> np.ndarray:
    """(17, 3) COCO keypoints of a core.body.template.Template in its rest pose, metres, SMPL frame."""
    return (template.keypoint_weights @ template.rest_vertices).astype(np.float32)


__all__ = [
    "NUM_LINEAR_LAYERS", "PAPER_VIEW_ANGLES_DEG", "LiftingSettings", "LiftingProgress",
    "LiftingResult", "DepthGenerator", "PoseDiscriminator", "train_lifter", "lift", "save_lifter",
    "load_lifter", "average_skeleton_from_template",
]
