"""Settings of one deform-and-learn round, and the two presets `paper` and `cpu-demo`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from deformlearn.core.lifting.cgan import LiftingSettings
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.regressor.training import RegressorTrainingSettings

PRESETS = ("paper", "cpu-demo")


@dataclass(frozen=True)
class RoundSettings:
    """Everything a round needs besides the project.

    lifting / first_registration / later_registration / regressor: the stages' own settings (round 1
        registers with `first_registration`, later rounds with `later_registration` from the regressor;
        that defaults to `RegistrationSettings.refinement`, the `paper` preset's is `later_round`).
    only_accepted: train the regressor only on fits a reviewer accepted (default: all but rejected ones).
    holdout_fraction: when the project has ground truth, this fraction of its people (a fixed split seeded
        by `split_seed` and each person's id) is held out of cGAN and regressor training for evaluation.
    registration_chunk: people registered (and committed to the project) together.
    later_round_depths: use the cGAN's keypoint depths in L_KP of later rounds' registration too (the paper
        does; round 1 always does). Off by default (departure): later rounds start from a fit that already
        holds depth, and the cGAN's depths are worse than that fit (held-out cGAN MPJPE 115-150 mm against
        93-109 mm for round 1's fits) yet enter L_KP as a sum over 17 keypoints at w_KP = 1, so they pin the
        refinement at the cGAN's error; from round 2 the cGAN is even trained towards the previous round's
        registered joints, feeding a fit's own errors back to it. Measured on round 2 of 200 synthetic people
        (refinement schedule, two projects): MPJPE 99.5 / 89.8 mm with depths, 66.5 / 72.4 mm at 1/10 of
        their weight, 58.7 / 65.0 mm without. The fits' orientations were not the problem: round 1's people
        over 200 mm were off by 6-29 degrees (wrong limbs, not front/back flips), and all of them fell under
        200 mm in round 2 without depths.
    restart_from_previous_fit: in later rounds also start each person's registration from their previous fit
        and keep whichever start ends with the lower loss (the paper starts from the regressor alone; while
        the regressor is still poor, as after a few hundred images, its prediction can be a worse start than
        the fit it learned from). Measured on round 2 of 200 synthetic people (refinement, no depths): the
        previous fit's start was kept for 168 of 169 people; from the regressor alone MPJPE was 105.4 mm
        against 58.7 mm.
    device: torch device for every stage ("cpu", "cuda", ...).
    num_threads: torch CPU threads during the round (0 leaves torch's setting). On a small, busy CPU one
        thread is often many times faster than two for these small networks (thread contention).
    lifter_file: a lifter (`save_lifter` file, e.g. models/round_001/lifter.pt of a synthetic project) that the
        lifting stage uses instead of training one: for projects too small to train their own.
    stages: the stages to run, in STAGES order (default all); a round without "evaluation" is marked
        finished after its last stage ("lifting" alone trains a lifter, e.g. on a synthetic project).
    """

    lifting: LiftingSettings = field(default_factory=LiftingSettings.paper)
    first_registration: RegistrationSettings = field(default_factory=RegistrationSettings.round1)
    later_registration: RegistrationSettings = field(default_factory=RegistrationSettings.refinement)
    regressor: RegressorTrainingSettings = field(default_factory=RegressorTrainingSettings.paper)
    only_accepted: bool = False
    holdout_fraction: float = 0.1
    split_seed: int = 0
    registration_chunk: int = 256
    later_round_depths: bool = False
    restart_from_previous_fit: bool = True
    device: str = "cpu"
    num_threads: int = 0
    lifter_file: str | None = None
    stages: tuple[str, ...] = ("lifting", "registration", "regressor", "evaluation")

    def __post_init__(self) -> None:
        unknown = [s for s in self.stages if s not in ("lifting", "registration", "regressor", "evaluation")]
        if unknown or not self.stages:
            raise ValueError(f"stages must be some of lifting, registration, regressor, evaluation; got {self.stages}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in [0, 1), got {self.holdout_fraction}")
        if self.registration_chunk < 1:
            raise ValueError(f"registration_chunk must be >= 1, got {self.registration_chunk}")

    @classmethod
    def paper(cls, **changes) -> RoundSettings:
        """The paper's numbers: cGAN 50 epochs batch 1024 lr 2e-4; registration 300 stiff steps in round 1,
        100 later at a constant lr with the cGAN depths; ResNet50 regressor, Adam 1e-4, batch 30, 30 epochs.
        (The defaults depart from it in `later_registration`'s schedule and `later_round_depths`.)"""
        return replace(cls(later_registration=RegistrationSettings.later_round(), later_round_depths=True), **changes)

    @classmethod
    def cpu_demo(cls, **changes) -> RoundSettings:
        """Small enough that one round on 200 synthetic people takes a few minutes on 2 CPU cores."""
        base = cls(
            lifting=LiftingSettings.cpu_demo(),
            first_registration=RegistrationSettings.round1(steps=200, num_threads=1),
            later_registration=RegistrationSettings.refinement(steps=100, num_threads=1),
            regressor=RegressorTrainingSettings.cpu_demo(num_threads=1),
            num_threads=1,
        )
        return replace(base, **changes)

    @classmethod
    def preset(cls, name: str, **changes) -> RoundSettings:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {PRESETS}")
        return cls.paper(**changes) if name == "paper" else cls.cpu_demo(**changes)

    def on_device(self, device: str) -> RoundSettings:
        """The same settings with every stage on `device`."""
        return replace(
            self, device=device, lifting=replace(self.lifting, device=device),
            first_registration=self.first_registration.with_(device=device),
            later_registration=self.later_registration.with_(device=device),
            regressor=replace(self.regressor, device=device),
        )

    def to_dict(self) -> dict:
        return asdict(self)
