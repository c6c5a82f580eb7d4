"""The ConvNet body regressor (paper section 5, appendix section 4): a person crop in, body parameters out.

Input: a square crop of the person's box (the registration's normalised frame: the crop spans [-1, 1] in
x and y, x right, y down), as one of three settings:
- "rgb": the RGB crop, (B, 3, H, W) float in [0, 1], normalised inside the model with ImageNet statistics;
- "iuv": the DensePose IUV image of the crop, (B, 26, H, W): channels 0..23 = one-hot part I = 1..24,
  channels 24, 25 = U, V in [0, 1] (all 0 on the background). One-hot parts, not I / 24 in one channel:
  a network then needs no arithmetic to tell the front of the torso (part 2) from its back (part 1);
- "rgb+iuv": both stacked, (B, 29, H, W).

Output layout (128 values; the paper has 132 because it also regresses a 24th quaternion for the root,
whose role the 9-value global rotation plays here):
    [0:92]    pose: 23 quaternions (x, y, z, w), one per non-root joint, normalised (core.body.rotations' XYZW)
    [92:116]  24 segment scales (predicted as log-scales around 1: s = exp(raw))
    [116:125] global rotation R, 9 values row-major, orthonormalised by `gram_schmidt_rotation`
    [125]     weak-perspective scale s (predicted as log s)
    [126:128] translation t (normalised frame)
The camera is the registration's: x = s * Pi(R X) + t with X in the body frame (root at origin, metres).

Backbones: "resnet50" (the paper), "resnet18" (torchvision), or "small" (a 5-block CNN for CPU). ImageNet
weights are used only when present on disk (`pretrained_weights` path, or torchvision's cache folder);
nothing is ever downloaded.
"""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from deformlearn.core.body.rotations import (
    axis_angle_to_quaternion,
    gram_schmidt_rotation,
    quaternion_to_axis_angle,
)
from deformlearn.core.files.torch_files import load_torch_file

INPUT_CHANNELS = {"rgb": 3, "iuv": 26, "rgb+iuv": 29}
BACKBONES = ("resnet50", "resnet18", "small")
NUM_POSE_JOINTS = 23
NUM_SCALES = 24
OUTPUT_SIZE = NUM_POSE_JOINTS * 4 + NUM_SCALES + 9 + 1 + 2  # 128
# The head's output layout (the module docstring's table), one slice per parameter group.
POSE_SLICE = slice(0, NUM_POSE_JOINTS * 4)
SCALES_SLICE = slice(POSE_SLICE.stop, POSE_SLICE.stop + NUM_SCALES)
ROTATION_SLICE = slice(SCALES_SLICE.stop, SCALES_SLICE.stop + 9)
CAM_SCALE_INDEX = ROTATION_SLICE.stop
TRANSLATION_SLICE = slice(CAM_SCALE_INDEX + 1, CAM_SCALE_INDEX + 3)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class RegressorConfig:
    """What defines a regressor's architecture (saved with every checkpoint).

    backbone: one of BACKBONES. input_mode: one of INPUT_CHANNELS' keys; "iuv" by default because it was
    the best on synthetic data (`benchmarks/rounds.py --compare-inputs`, 200 people, round-3 fits, small
    CNN on 64-px crops: held-out MPJPE rgb 254.5 mm, iuv 191.4 mm, rgb+iuv 202.5 mm). crop_size: pixels.
    pretrained_weights: a local torchvision ImageNet state-dict file for the ResNets, or None to look in
    torchvision's cache folder (never downloads).
    """

    backbone: str = "small"
    input_mode: str = "iuv"
    crop_size: int = 96
    pretrained_weights: str | None = None

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown regressor backbone {self.backbone!r}; choose one of {BACKBONES}")
        if self.input_mode not in INPUT_CHANNELS:
            raise ValueError(f"unknown regressor input {self.input_mode!r}; choose one of {tuple(INPUT_CHANNELS)}")
        if self.crop_size < 32:
            raise ValueError(f"regressor crop_size must be at least 32 px, got {self.crop_size}")

    @property
    def in_channels(self) -> int:
        return INPUT_CHANNELS[self.input_mode]


@dataclass
class RegressorOutput:
    """Body parameters predicted for B crops.

    quaternions: (B, 23, 4) unit quaternions (x, y, z, w), relative joint rotations.
    pose: (B, 23, 3) the same rotations as axis-angle (what the body model and registration take).
    scales: (B, 24) positive segment scales.
    rotation: (B, 3, 3) global rotation (Gram-Schmidt of the 9 raw values), body frame -> camera frame.
    cam_scale: (B,) positive weak-perspective scale. translation: (B, 2) normalised frame.
    raw: (B, 128) the head's output before any normalisation (layout in the module docstring).
    """

    quaternions: torch.Tensor
    pose: torch.Tensor
    scales: torch.Tensor
    rotation: torch.Tensor
    cam_scale: torch.Tensor
    translation: torch.Tensor
    raw: torch.Tensor = field(repr=False)


def _small_backbone(in_channels: int) -> tuple[nn.Module, int]:
    """Five stride-2 blocks of two 3x3 convolutions. GroupNorm, not BatchNorm: per-sample statistics make
    small batches behave and make data-parallel training equal to single-process training."""
    layers: list[nn.Module] = []
    channels = [in_channels, 32, 64, 128, 192, 256]
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), nn.GroupNorm(8, c_out),
                   nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                   nn.GroupNorm(8, c_out), nn.ReLU(inplace=True)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), channels[-1]


def find_imagenet_weights(backbone: str, explicit: str | None) -> str | None:
    """The path of local ImageNet weights for `backbone`, or None. Looks only on disk, never downloads."""
    if explicit:
        if not os.path.isfile(explicit):
            raise FileNotFoundError(f"{explicit}: pretrained weights file not found")
        return explicit
    checkpoints = os.path.join(torch.hub.get_dir(), "checkpoints")
    found = sorted(glob.glob(os.path.join(checkpoints, f"{backbone}-*.pth")))
    return found[-1] if found else None


def _resnet_backbone(config: RegressorConfig, pretrained: bool) -> tuple[nn.Module, int]:
    import torchvision

    net = getattr(torchvision.models, config.backbone)(weights=None)
    if pretrained:
        path = find_imagenet_weights(config.backbone, config.pretrained_weights)
        if path is None:
            warnings.warn(
                f"no ImageNet weights for {config.backbone} on disk (give a path, or place torchvision's file "
                f"in {os.path.join(torch.hub.get_dir(), 'checkpoints')}); starting from random initialisation",
                stacklevel=3,
            )
        else:
            net.load_state_dict(load_torch_file(path, f"{config.backbone} ImageNet weights"))
    if config.in_channels != 3:
        old = net.conv1
        conv = nn.Conv2d(config.in_channels, 64, 7, stride=2, padding=3, bias=False)
        if "rgb" in config.input_mode:
            with torch.no_grad():  # the RGB channels keep the (pretrained) filters; IUV ones start fresh
                conv.weight[:, :3] = old.weight
        net.conv1 = conv
    features = net.fc.in_features
    net.fc = nn.Identity()
    return net, features


def identity_raw(batch: int = 1) -> torch.Tensor:
    """(batch, 128) raw head values for the T-pose, unit scales, identity rotation, s = 1, t = 0."""
    raw = torch.zeros(batch, OUTPUT_SIZE)
    raw[:, POSE_SLICE][:, 3::4] = 1.0
    raw[:, ROTATION_SLICE] = torch.eye(3).reshape(9)
    return raw


def params_to_raw(pose: torch.Tensor, scales: torch.Tensor, rotation: torch.Tensor, cam_scale: torch.Tensor,
                  translation: torch.Tensor) -> torch.Tensor:
    """Inverse of the head's decoding: registered parameters -> (B, 128) raw values.

    pose (B, 23, 3) axis-angle; scales (B, 24) > 0; rotation (B, 3, 3); cam_scale (B,) > 0; translation (B, 2).
    Quaternions are put in the w >= 0 hemisphere, so equal rotations give equal targets.
    """
    B = pose.shape[0]
    if pose.shape != (B, NUM_POSE_JOINTS, 3) or scales.shape != (B, NUM_SCALES) or rotation.shape != (B, 3, 3):
        raise ValueError(f"params_to_raw: bad shapes pose {tuple(pose.shape)}, scales {tuple(scales.shape)}, "
                         f"rotation {tuple(rotation.shape)}")
    q = axis_angle_to_quaternion(pose)
    q = torch.where(q[..., 3:4] < 0, -q, q)
    return torch.cat([q.reshape(B, -1), scales.clamp_min(1e-4).log(), rotation.reshape(B, 9),
                      cam_scale.clamp_min(1e-6).log().reshape(B, 1), translation.reshape(B, 2)], dim=1)


def decode_raw(raw: torch.Tensor) -> RegressorOutput:
    """(B, 128) raw head values -> RegressorOutput (normalised quaternions, Gram-Schmidt rotation)."""
    if raw.ndim != 2 or raw.shape[1] != OUTPUT_SIZE:
        raise ValueError(f"decode_raw: expected (B, {OUTPUT_SIZE}) values, got {tuple(raw.shape)}")
    B = raw.shape[0]
    q = raw[:, POSE_SLICE].reshape(B, NUM_POSE_JOINTS, 4)
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    rotation = gram_schmidt_rotation(raw[:, ROTATION_SLICE])
    return RegressorOutput(
        quaternions=q, pose=quaternion_to_axis_angle(q), scales=raw[:, SCALES_SLICE].exp(), rotation=rotation,
        cam_scale=raw[:, CAM_SCALE_INDEX].exp(), translation=raw[:, TRANSLATION_SLICE], raw=raw,
    )


class BodyRegressor(nn.Module):
    """Backbone + two-layer head predicting the 128 body values from a person crop.

    forward(images (B, C, H, W) float, C per `config.input_mode`) -> RegressorOutput.
    mean_raw: (128,) starting bias of the head. pretrained=False skips looking for ImageNet weights (for a
    model whose trained weights are loaded next).
    """

    def __init__(self, config: RegressorConfig, mean_raw: torch.Tensor | None = None,
                 pretrained: bool = True) -> None:
        super().__init__()
        self.config = config
        if config.backbone == "small":
            self.backbone, features = _small_backbone(config.in_channels)
        else:
            self.backbone, features = _resnet_backbone(config, pretrained)
        self.head = nn.Sequential(nn.Linear(features, 512), nn.ReLU(inplace=True), nn.Linear(512, OUTPUT_SIZE))
        with torch.no_grad():  # start at the mean of the training targets: a sensible body from step 0
            self.head[-1].weight.mul_(0.01)
            self.head[-1].bias.copy_((identity_raw() if mean_raw is None else mean_raw.reshape(1, -1))[0])
        rgb_mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
        rgb_std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
        self.register_buffer("rgb_mean", rgb_mean, persistent=False)
        self.register_buffer("rgb_std", rgb_std, persistent=False)

    def normalise_input(self, images: torch.Tensor) -> torch.Tensor:
        C = self.config.in_channels
        if images.ndim != 4 or images.shape[1] != C:
            raise ValueError(f"BodyRegressor ({self.config.input_mode}) expects (B, {C}, H, W) images, "
                             f"got {tuple(images.shape)}")
        if self.config.input_mode == "iuv":
            return (images - 0.5) * 2.0
        rgb = (images[:, :3] - self.rgb_mean) / self.rgb_std
        return rgb if C == 3 else torch.cat([rgb, (images[:, 3:] - 0.5) * 2.0], dim=1)

    def forward(self, images: torch.Tensor) -> RegressorOutput:
        return decode_raw(self.head(self.backbone(self.normalise_input(images))))
