"""The body regressor (paper section 5, appendix section 4): a person's data in, body parameters out.

An architecture setting (`RegressorConfig.architecture`, `encoders` module) chooses what the network reads
of a person (`RegressorInputs`, in the person's normalised frame: the square box spans [-1, 1] in x and y,
x right, y down); every architecture ends in the same head and output layout and is trained by the same
loop on the registrations:
- "convnet": the paper's ConvNet on a square crop, as one of three `input_mode`s:
  "rgb": the RGB crop, (B, 3, H, W) float in [0, 1], normalised inside the model with ImageNet statistics;
  "iuv": the DensePose IUV image of the crop, (B, 26, H, W): channels 0..23 = one-hot part I = 1..24,
  channels 24, 25 = U, V in [0, 1] (all 0 on the background). One-hot parts, not I / 24 in one channel:
  a network then needs no arithmetic to tell the front of the torso (part 2) from its back (part 1);
  "rgb+iuv": both stacked, (B, 29, H, W);
- "nbf": a part segmentation drawn from the points, and the keypoints;
- "decomr": the points' positions in the template's UV space (a location map), and the keypoints;
- "pointset": the set of (x, y, part, U, V) points and the keypoints, no image at all;
- "partwise": the same, pooled also per coarse part, and a `JointHead` beside the head that adds to each
  joint's quaternion a correction read from the two parts the joint connects.

Output layout (128 values; the paper has 132 because it also regresses a 24th quaternion for the root,
whose role the 9-value global rotation plays here):
    [0:92]    pose: 23 quaternions (x, y, z, w), one per non-root joint, normalised (core.body.rotations' XYZW)
    [92:116]  24 segment scales (predicted as log-scales around 1: s = exp(raw))
    [116:125] global rotation R, 9 values row-major, orthonormalised by `gram_schmidt_rotation`
    [125]     weak-perspective scale s (predicted as log s)
    [126:128] translation t (normalised frame)
The camera is the registration's: x = s * Pi(R X) + t with X in the body frame (root at origin, metres).

Backbones of the image-like encoders: "resnet50" (the paper), "resnet18" (torchvision), or "small" (a
5-block CNN for CPU); ImageNet weights only from disk (`backbones`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from deformlearn.core.body.rotations import (
    axis_angle_to_quaternion,
    gram_schmidt_rotation,
    quaternion_to_axis_angle,
)
from deformlearn.core.body.skeletons import COARSE_PART_NAMES, SEGMENT_COARSE_PART, SMPL_JOINT_NAMES, SMPL_PARENTS
from deformlearn.core.regressor.backbones import BACKBONES
from deformlearn.core.regressor.encoders import ARCHITECTURES, NUM_COARSE_PARTS, make_encoder
from deformlearn.core.regressor.inputs import RegressorInputs
from deformlearn.core.shape_checks import check_shape

INPUT_CHANNELS = {"rgb": 3, "iuv": 26, "rgb+iuv": 29}
NUM_POSE_JOINTS = 23
NUM_SCALES = 24
OUTPUT_SIZE = NUM_POSE_JOINTS * 4 + NUM_SCALES + 9 + 1 + 2  # 128
# The head's output layout (the module docstring's table), one slice per parameter group.
POSE_SLICE = slice(0, NUM_POSE_JOINTS * 4)
SCALES_SLICE = slice(POSE_SLICE.stop, POSE_SLICE.stop + NUM_SCALES)
ROTATION_SLICE = slice(SCALES_SLICE.stop, SCALES_SLICE.stop + 9)
CAM_SCALE_INDEX = ROTATION_SLICE.stop
TRANSLATION_SLICE = slice(CAM_SCALE_INDEX + 1, CAM_SCALE_INDEX + 3)


@dataclass(frozen=True)
class RegressorConfig:
    """What defines a regressor's architecture (saved with every checkpoint).

    architecture: one of ARCHITECTURES (`encoders`). backbone: one of BACKBONES, for the image-like
    encoders (convnet, nbf, decomr). input_mode: the convnet's crop, one of INPUT_CHANNELS' keys; "iuv" by
    default because it was the best on synthetic data (`benchmarks/rounds.py --compare-inputs`, 200 people,
    round-3 fits, small CNN on 64-px crops: held-out MPJPE rgb 254.5 mm, iuv 191.4 mm, rgb+iuv 202.5 mm).
    crop_size: pixels of the convnet's crop and of NBF's part image. uv_grid: cells per part side of
    DecoMR's location map. point_features: width of the point-set encoder. max_points: at most this many
    points of a person go in (a fixed subset of people with more). pretrained_weights: a local torchvision
    ImageNet state-dict file for the ResNets, or None to look in torchvision's cache folder (never downloads).
    """

    architecture: str = "convnet"
    backbone: str = "small"
    input_mode: str = "iuv"
    crop_size: int = 96
    uv_grid: int = 16
    point_features: int = 256
    max_points: int = 512
    pretrained_weights: str | None = None

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown regressor architecture {self.architecture!r}; choose one of {ARCHITECTURES}")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown regressor backbone {self.backbone!r}; choose one of {BACKBONES}")
        if self.input_mode not in INPUT_CHANNELS:
            raise ValueError(f"unknown regressor input {self.input_mode!r}; choose one of {tuple(INPUT_CHANNELS)}")
        if self.crop_size < 32:
            raise ValueError(f"regressor crop_size must be at least 32 px, got {self.crop_size}")
        if self.uv_grid < 4 or self.max_points < 1 or self.point_features < 8:
            raise ValueError(f"regressor uv_grid must be >= 4, max_points >= 1 and point_features >= 8, got "
                             f"{self.uv_grid}, {self.max_points}, {self.point_features}")

    @property
    def in_channels(self) -> int:
        return INPUT_CHANNELS[self.input_mode]

    @property
    def crop_mode(self) -> str | None:
        """The crops this architecture reads ("rgb", "iuv", "rgb+iuv"), or None when it reads only points."""
        return self.input_mode if self.architecture == "convnet" else None


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


#: Per SMPL joint, the index (0..13) among the coarse parts without the background of the part it rotates.
_SEGMENT_PART_INDEX = [COARSE_PART_NAMES.index(SEGMENT_COARSE_PART[name]) - 1 for name in SMPL_JOINT_NAMES]


class JointHead(nn.Module):
    """Per-joint quaternion corrections from the parts each joint connects ("partwise").

    forward(whole (B, F) whole-body features, parts (B, 14, P) per coarse part) -> (B, 23 * 4) added to the
    head's raw quaternions (x, y, z, w per non-root joint). One MLP shared by the 23 joints reads the features
    of the joint's own segment's part and of its parent's, a learned joint embedding and a narrow projection
    of the whole-body vector; its last layer starts near 0, so the model starts as the whole-body head.
    """

    def __init__(self, whole_features: int, part_features: int, width: int = 256, embedding: int = 32) -> None:
        super().__init__()
        self.part_features = part_features
        joints = range(1, len(SMPL_JOINT_NAMES))
        self.register_buffer("own", torch.tensor([_SEGMENT_PART_INDEX[j] for j in joints]), persistent=False)
        self.register_buffer("parent", torch.tensor([_SEGMENT_PART_INDEX[SMPL_PARENTS[j]] for j in joints]),
                             persistent=False)
        self.embedding = nn.Parameter(torch.randn(NUM_POSE_JOINTS, embedding) * 0.1)
        self.whole = nn.Linear(whole_features, 128)
        self.mlp = nn.Sequential(nn.Linear(2 * part_features + 128 + embedding, width), nn.ReLU(inplace=True),
                                 nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, 4))
        with torch.no_grad():
            self.mlp[-1].weight.mul_(0.01)
            self.mlp[-1].bias.zero_()

    def forward(self, whole: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
        sizes = check_shape(whole, ("B", self.whole.in_features), "JointHead whole")
        check_shape(parts, ("B", NUM_COARSE_PARTS, self.part_features), "JointHead parts", sizes)
        B = whole.shape[0]
        context = torch.relu(self.whole(whole))[:, None].expand(B, NUM_POSE_JOINTS, -1)
        x = torch.cat([parts[:, self.own], parts[:, self.parent], context,
                       self.embedding[None].expand(B, -1, -1)], dim=-1)
        return self.mlp(x).reshape(B, NUM_POSE_JOINTS * 4)


class BodyRegressor(nn.Module):
    """Encoder (by `config.architecture`) + two-layer head predicting the 128 body values (+ `JointHead`'s
    corrections to the quaternions for "partwise").

    forward(inputs: RegressorInputs, images per `config.input_mode` for the convnet) -> RegressorOutput.
    mean_raw: (128,) starting bias of the head. pretrained=False skips looking for ImageNet weights (for a
    model whose trained weights are loaded next).
    """

    def __init__(self, config: RegressorConfig, mean_raw: torch.Tensor | None = None,
                 pretrained: bool = True) -> None:
        super().__init__()
        self.config = config
        self.encoder = make_encoder(config, pretrained)
        features = self.encoder.features
        self.head = nn.Sequential(nn.Linear(features, 512), nn.ReLU(inplace=True), nn.Linear(512, OUTPUT_SIZE))
        with torch.no_grad():  # start at the mean of the training targets: a sensible body from step 0
            self.head[-1].weight.mul_(0.01)
            self.head[-1].bias.copy_((identity_raw() if mean_raw is None else mean_raw.reshape(1, -1))[0])
        self.joint_head = JointHead(features, self.encoder.part_features) if config.architecture == "partwise" \
            else None

    def forward(self, inputs: RegressorInputs) -> RegressorOutput:
        if not isinstance(inputs, RegressorInputs):
            raise TypeError(f"BodyRegressor takes RegressorInputs, got {type(inputs).__name__}")
        if self.joint_head is None:
            return decode_raw(self.head(self.encoder(inputs)))
        whole, parts = self.encoder.parts(inputs)
        raw = self.head(whole)
        pose = raw[:, POSE_SLICE] + self.joint_head(whole, parts)
        return decode_raw(torch.cat([pose, raw[:, POSE_SLICE.stop:]], dim=1))
