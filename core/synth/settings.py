"""What `deformlearn synth` makes (`SynthSettings`, checked before anything is written) and what it reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SynthSettings:
    """What to generate. Probabilities are per image (occlusion) or per person (truncation).

    count: people in all; image_size: square images of this many pixels; points: (min, max) dense points per
    person; uv_noise: std of the noise on U and V (chart units); keypoint_noise: std on keypoints (pixels);
    surface_tolerance / keypoint_tolerance: depth margins of the visibility tests (metres); motion: a motion
    file (`core.synth.poses.load_motion_poses`: AMASS or SMPL .npz), several (each person draws a file, then
    one of its frames, so a short file weighs as much as a long one) or None for sampled poses; motion_jitter:
    std (radians) of normal noise added to every axis-angle value of a motion pose (0: the poses as
    recorded); texture: atlas image or None for the built-in one; background: "noise" or "plain"; points_at:
    "vertices" (exact vertex projections) or "pixels" (pixel centres, exact surface points). pitch_sigma /
    roll_sigma: std of the camera's pitch and roll (radians; yaw is uniform); pose_spread: the sampled poses'
    spread (`sample_limited_poses`).
    """

    count: int = 100
    seed: int = 0
    image_size: int = 256
    people_per_image: int = 1
    points: tuple[int, int] = (100, 150)
    motion: str | Path | tuple[str | Path, ...] | None = None
    motion_jitter: float = 0.0
    texture: str | Path | None = None
    uv_noise: float = 0.0
    keypoint_noise: float = 0.0
    occlusion: float = 0.0
    truncation: float = 0.0
    scale_sigma: float = 0.05
    background: str = "noise"
    points_at: str = "vertices"
    surface_tolerance: float = 0.015
    keypoint_tolerance: float = 0.12
    chunk: int = 32
    pitch_sigma: float = 0.15
    roll_sigma: float = 0.1
    pose_spread: float = 0.22

    def motion_files(self) -> tuple[Path, ...]:
        """The motion files, () when poses are sampled."""
        if self.motion is None:
            return ()
        files = (self.motion,) if isinstance(self.motion, (str, Path)) else tuple(self.motion)
        return tuple(Path(f) for f in files)

    def check(self) -> None:
        """ValueError naming the first bad setting."""
        if self.count < 1 or self.people_per_image < 1:
            raise ValueError(f"count ({self.count}) and people_per_image ({self.people_per_image}) must be >= 1")
        if self.image_size < 64:
            raise ValueError(f"image_size must be >= 64 pixels, got {self.image_size}")
        if not 1 <= self.points[0] <= self.points[1]:
            raise ValueError(f"points must be (min, max) with 1 <= min <= max, got {self.points}")
        for name in ("occlusion", "truncation"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        for name in ("uv_noise", "keypoint_noise", "scale_sigma", "pitch_sigma", "roll_sigma", "pose_spread",
                     "motion_jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.motion_jitter > 0 and not self.motion_files():
            raise ValueError(f"motion_jitter ({self.motion_jitter}) jitters motion poses: give motion files too")
        if self.points_at not in ("vertices", "pixels"):
            raise ValueError(f"points_at {self.points_at!r}: expected 'vertices' or 'pixels'")
        if self.background not in ("noise", "plain"):
            raise ValueError(f"background {self.background!r}: expected 'noise' or 'plain'")


@dataclass(frozen=True)
class SynthReport:
    """people, images written; seconds taken; renderer "pyrender" or "numpy"; points_mean per person."""

    people: int
    images: int
    seconds: float
    renderer: str
    points_mean: float


__all__ = ["SynthReport", "SynthSettings"]
