"""Settings of the batched registration (paper section 4, appendix section 3): weights, schedule, device.

The loss weights only mean something in the per-person normalised frame of `registration_data` (the square
box about the person's bbox mapped to [-1, 1]^2): a 1-pixel error in the 256 x 256 DensePose frame is
1/128 there, so `w_dense * MSE` = 1000 / 128^2 ~ 0.06 per squared pixel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class RegistrationSettings:
    """Everything the fitter needs besides data. Defaults are the paper's later-round weights.

    Attributes:
        w_dense, w_KP, w_scale, w_joint, w_det: loss weights (appendix eq. 7).
        w_pose_prior: weight of `pose_prior_loss` (anatomical range of every joint on every axis; 0 = off,
            the paper). Alone it barely changes the lean (real photos: trunk pitch -25 / -34 -> -27 / -28 deg)
            but keeps every joint in range (both photos' fits judged "good" instead of "implausible_pose").
        w_upright: weight of `upright_loss` (the trunk's pitch towards or away from the camera; 0 = off, the
            paper). At 2 in the staged single fit: real photos' trunk pitch -25 / -34 -> -2 / -4 deg with the
            dense error unchanged (3.06 / 3.33 -> 3.10 / 3.36 px); 4 Human3.6M frames from keypoints alone
            MPJPE 226 -> 144 mm, PA-MPJPE 157 -> 101 mm (table: schedule.SINGLE_FIT_PRIORS).
        steps: Adam steps (forward + backward + update) per fit.
        lr: Adam learning rate (at the first step).
        lr_warmup_steps: the learning rate ramps linearly from lr / warmup to lr over this many first steps
            (0 = none, the paper's schedule). Adam's first steps move every coordinate by about lr whatever
            its gradient; from a good initialisation (later rounds) that kick undoes the start.
        lr_end_fraction: the learning rate decays exponentially to lr * lr_end_fraction at the last step
            (1 = constant, the paper's schedule). Adam at a constant 0.1 keeps jittering about the optimum.
        progress_every: call the progress callback every k steps (and after the last one).
        num_orientations: global orientations tried per person (rotations about the vertical axis, evenly
            spaced from the frontal view); the best per person by final loss is kept. 1 = frontal only.
        device: torch device string ("cpu", "cuda", "cuda:1").
        seed: seeds torch before the fit (results are deterministic for a seed on CPU).
        num_threads: torch CPU threads during the fit (restored afterwards); 0 (default) leaves torch's
            setting alone (all cores). On an idle 2-core CPU two threads beat one at batch >= 256 (36,100
            vs 29,000 image-iterations/s at 256, 45,300 vs 28,300 at 512), but with other processes busy on
            the cores two threads were measured 10x slower than one (they spin waiting for each other):
            set 1 on a shared machine.
        divergence_loss: a person whose total loss exceeds this (or turns non-finite) is marked failed.
        converged_rtol: converged when the total loss changed by less than this fraction over the last
            `converged_window` steps.
        converged_window: see converged_rtol.
        early_stop_rtol: early stopping (0 = off: every start runs all `steps`). A start stops, its
            parameters frozen where they are, once its total loss stayed within this fraction of its lowest
            over the last `converged_window` + 1 steps (never before `lr_warmup_steps + converged_window`
            steps); the fit ends when every start has stopped. Per
            start, so a person's fit still does not depend on who shares the batch.
    """

    w_dense: float = 1000.0
    w_KP: float = 1.0
    w_scale: float = 10.0
    w_joint: float = 0.001
    w_det: float = 1.0
    w_pose_prior: float = 0.0
    w_upright: float = 0.0
    steps: int = 100
    lr: float = 0.1
    lr_warmup_steps: int = 0
    lr_end_fraction: float = 1.0
    progress_every: int = 10
    num_orientations: int = 1
    device: str = "cpu"
    seed: int = 0
    num_threads: int = 0
    divergence_loss: float = 1e6
    converged_rtol: float = 1e-2
    converged_window: int = 10
    early_stop_rtol: float = 0.0

    def __post_init__(self) -> None:
        for name in ("w_dense", "w_KP", "w_scale", "w_joint", "w_det", "w_pose_prior", "w_upright", "lr",
                     "early_stop_rtol"):
            if getattr(self, name) < 0:
                raise ValueError(f"RegistrationSettings.{name} must be >= 0, got {getattr(self, name)}")
        if self.lr_warmup_steps < 0:
            raise ValueError(f"RegistrationSettings.lr_warmup_steps must be >= 0, got {self.lr_warmup_steps}")
        if not 0 < self.lr_end_fraction <= 1:
            raise ValueError(f"RegistrationSettings.lr_end_fraction must be in (0, 1], got {self.lr_end_fraction}")
        for name in ("steps", "progress_every", "num_orientations", "converged_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"RegistrationSettings.{name} must be >= 1, got {getattr(self, name)}")

    def with_(self, **changes) -> RegistrationSettings:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def round1(cls, **changes) -> RegistrationSettings:
        """First round: a stiff body (w_scale=100, w_joint=1), 300 steps from the T-pose, 4 orientations."""
        return cls(w_scale=100.0, w_joint=1.0, steps=300, num_orientations=4).with_(**changes)

    @classmethod
    def later_round(cls, **changes) -> RegistrationSettings:
        """Later rounds as the paper runs them: its weights, 100 steps at a constant lr 0.1 from a given
        initialisation (the regressor's)."""
        return cls(steps=100, num_orientations=1).with_(**changes)

    @classmethod
    def refinement(cls, **changes) -> RegistrationSettings:
        """`later_round` with a refinement schedule (departure from the paper): a 10-step linear warm-up and
        an exponential decay to lr / 10. From a good start, Adam's first steps at the full lr 0.1 move every
        coordinate by ~lr and undo the fit (loss 0.7 -> 12 in 10 steps), and a constant lr keeps it
        jittering about the optimum. Measured on round 2 of 200 synthetic people (169 fitted, restarting
        from round 1's fits, no cGAN depths): MPJPE 90.7 mm (paper schedule) -> 58.7 mm."""
        return cls.later_round(lr_warmup_steps=10, lr_end_fraction=0.1).with_(**changes)
