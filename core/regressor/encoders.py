"""The regressor's encoders, one per architecture: `RegressorInputs` in, a (B, features) vector out.

- "convnet" (the paper, section 5): a ConvNet on the RGB and/or IUV crop (`network`'s input modes).
- "nbf" (Neural Body Fitting, Omran et al. 2018): a ConvNet on a 24-part segmentation of the person, drawn
  from the annotated points (`points_to_part_image`), with the keypoints beside it. NBF's point: a part
  segmentation is a representation that transfers from little data, where RGB does not.
- "decomr" (DecoMR, Zeng et al. 2020): the points' image positions written into the template's UV space
  (`points_to_uv_location_map`, DensePose's atlas layout) and a ConvNet over that location map, with the
  keypoints beside it. The location map is aligned with the body surface, not with the image.
- "pointset": a PointNet-style encoder over the set of (x, y, part, U, V) points (a shared MLP, then max
  and mean pooling over the points), with the keypoints beside it. It needs no image and reads sparse COCO
  DensePose annotations exactly as they are.
- "partwise": the point-set encoder that also pools its point features per coarse body part (DensePose's
  14 parts of `dp_masks`); the network's `JointHead` corrects each joint's rotation from the features of
  the two parts the joint connects. A joint's angle is then read from its own parts' points, not from the
  whole body's pooled vector, so new combinations of joint angles (another pose distribution) are new
  inputs to the whole-body head only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from deformlearn.core.body.skeletons import FINE_TO_COARSE_PART, NUM_KEYPOINTS, NUM_PARTS
from deformlearn.core.regressor.backbones import image_backbone
from deformlearn.core.regressor.inputs import (
    RegressorInputs,
    keypoint_vector,
    points_to_part_image,
    points_to_uv_location_map,
)

ARCHITECTURES = ("convnet", "nbf", "decomr", "pointset", "partwise")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
KEYPOINT_FEATURES = 128


def _keypoint_branch() -> nn.Module:
    return nn.Sequential(nn.Linear(NUM_KEYPOINTS * 3, 256), nn.ReLU(inplace=True),
                         nn.Linear(256, KEYPOINT_FEATURES), nn.ReLU(inplace=True))


class ConvNetEncoder(nn.Module):
    """The paper's ConvNet on the crop: inputs.images (B, C, S, S), C = 3 (RGB in [0, 1]), 26 (one-hot parts,
    U, V) or 29 (both); RGB is normalised with ImageNet statistics, IUV channels mapped to [-1, 1]."""

    def __init__(self, config, pretrained: bool) -> None:
        super().__init__()
        self.input_mode, self.in_channels = config.input_mode, config.in_channels
        self.backbone, self.features = image_backbone(
            config.backbone, config.in_channels, pretrained=pretrained, weights=config.pretrained_weights,
            rgb_first="rgb" in config.input_mode)
        self.register_buffer("rgb_mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, inputs: RegressorInputs) -> Tensor:
        images = inputs.images
        C = self.in_channels
        if images is None or images.ndim != 4 or images.shape[1] != C:
            got = None if images is None else tuple(images.shape)
            raise ValueError(f"the convnet regressor ({self.input_mode}) expects (B, {C}, H, W) images, got {got}")
        if self.input_mode == "iuv":
            x = (images - 0.5) * 2.0
        else:
            rgb = (images[:, :3] - self.rgb_mean) / self.rgb_std
            x = rgb if C == 3 else torch.cat([rgb, (images[:, 3:] - 0.5) * 2.0], dim=1)
        return self.backbone(x)


class PartSegmentationEncoder(nn.Module):
    """NBF: a ConvNet on the (B, 24, S, S) part segmentation drawn from the points (S = config.crop_size),
    concatenated with the keypoint branch."""

    def __init__(self, config, pretrained: bool) -> None:
        super().__init__()
        self.size = config.crop_size
        self.backbone, image_features = image_backbone(config.backbone, NUM_PARTS, pretrained=pretrained,
                                                       weights=config.pretrained_weights)
        self.keypoints = _keypoint_branch()
        self.features = image_features + KEYPOINT_FEATURES

    def forward(self, inputs: RegressorInputs) -> Tensor:
        radius = max(1, self.size // 64)
        image = points_to_part_image(inputs.points, inputs.part, inputs.point_mask, self.size, radius)
        kp = self.keypoints(keypoint_vector(inputs.keypoints, inputs.keypoint_visible))
        return torch.cat([self.backbone(image * 2.0 - 1.0), kp], dim=1)


class LocationMapEncoder(nn.Module):
    """DecoMR: a ConvNet on the (B, 3, 6 G, 4 G) UV location map of the points (G = config.uv_grid),
    concatenated with the keypoint branch."""

    def __init__(self, config, pretrained: bool) -> None:
        super().__init__()
        self.grid = config.uv_grid
        self.backbone, image_features = image_backbone(config.backbone, 3, pretrained=False)
        self.keypoints = _keypoint_branch()
        self.features = image_features + KEYPOINT_FEATURES

    def forward(self, inputs: RegressorInputs) -> Tensor:
        location = points_to_uv_location_map(inputs.points, inputs.part, inputs.uv, inputs.point_mask, self.grid)
        kp = self.keypoints(keypoint_vector(inputs.keypoints, inputs.keypoint_visible))
        return torch.cat([self.backbone(location), kp], dim=1)


class PointSetEncoder(nn.Module):
    """A shared MLP over each point's (x, y, U, V, one-hot part) (28 values), max- and mean-pooled over the
    points the mask lets through, concatenated with the keypoint branch. A person with no usable point
    pools to zeros."""

    def __init__(self, config, pretrained: bool) -> None:
        super().__init__()
        width = config.point_features
        self.point_mlp = nn.Sequential(
            nn.Linear(4 + NUM_PARTS, 128), nn.ReLU(inplace=True), nn.Linear(128, 256), nn.ReLU(inplace=True),
            nn.Linear(256, width), nn.ReLU(inplace=True))
        self.keypoints = _keypoint_branch()
        self.features = 2 * width + KEYPOINT_FEATURES

    def point_features(self, inputs: RegressorInputs) -> Tensor:
        """(B, N, width) each point's features (>= 0: ReLU), zero where the mask drops the point."""
        part = torch.nn.functional.one_hot(inputs.part.clamp(0, NUM_PARTS), NUM_PARTS + 1)[..., 1:]
        x = torch.cat([inputs.points, inputs.uv * 2.0 - 1.0, part.to(inputs.points.dtype)], dim=-1)
        return self.point_mlp(x) * inputs.point_mask[..., None].to(x.dtype)

    @staticmethod
    def point_count(inputs: RegressorInputs, dtype: torch.dtype) -> Tensor:
        """(B, 1) the number of points the mask lets through, at least 1."""
        return inputs.point_mask.sum(dim=1, keepdim=True).clamp_min(1).to(dtype)

    def whole_body(self, h: Tensor, inputs: RegressorInputs, count: Tensor) -> Tensor:
        """(B, features) from the points' features h (B, N, width) and their count (B, 1) (`point_count`):
        their max and mean over the person's points (masked max over zeros is safe: the features are >= 0)
        and the keypoint branch."""
        kp = self.keypoints(keypoint_vector(inputs.keypoints, inputs.keypoint_visible))
        return torch.cat([h.amax(dim=1), h.sum(dim=1) / count, kp], dim=1)

    def forward(self, inputs: RegressorInputs) -> Tensor:
        h = self.point_features(inputs)
        return self.whole_body(h, inputs, self.point_count(inputs, h.dtype))


#: Coarse parts of `dp_masks` (14; FINE_TO_COARSE_PART without the background).
NUM_COARSE_PARTS = int(FINE_TO_COARSE_PART.max())


class PartwiseEncoder(PointSetEncoder):
    """The point-set encoder (its whole-body vector is `forward`'s) that also pools per coarse part.

    `parts(inputs)` -> (B, features) the whole-body vector and (B, 14, part_features) per coarse part: the
    max and mean of its points' features and the share of the person's points it holds (all 0 for a part
    without points).
    """

    def __init__(self, config, pretrained: bool) -> None:
        super().__init__(config, pretrained)
        self.part_features = 2 * config.point_features + 1
        self.register_buffer("coarse_of_fine", torch.as_tensor(FINE_TO_COARSE_PART), persistent=False)

    def parts(self, inputs: RegressorInputs) -> tuple[Tensor, Tensor]:
        """(B, features) the whole-body vector (`forward`'s) and (B, 14, part_features) per coarse part."""
        h = self.point_features(inputs)
        B, N, W = h.shape
        mask = inputs.point_mask
        count = self.point_count(inputs, h.dtype)
        whole = self.whole_body(h, inputs, count)
        # row of each point in the (B * 14) part table; dropped points go to an extra row, cut off after
        coarse = self.coarse_of_fine[inputs.part.clamp(0, NUM_PARTS)] - 1
        rows = torch.arange(B, device=h.device)[:, None] * NUM_COARSE_PARTS + coarse
        rows = torch.where(mask & (coarse >= 0), rows, B * NUM_COARSE_PARTS).reshape(-1)
        flat = h.reshape(B * N, W)
        table = flat.new_zeros(B * NUM_COARSE_PARTS + 1, W)
        peak = table.scatter_reduce(0, rows[:, None].expand(-1, W), flat, "amax", include_self=True)[:-1]
        total = table.index_add(0, rows, flat)[:-1]
        points = flat.new_zeros(B * NUM_COARSE_PARTS + 1).index_add(0, rows, flat.new_ones(B * N))[:-1]
        parts = torch.cat([peak, total / points.clamp_min(1)[:, None], (points / count.repeat_interleave(
            NUM_COARSE_PARTS, 0)[:, 0])[:, None]], dim=1)
        return whole, parts.reshape(B, NUM_COARSE_PARTS, self.part_features)


def make_encoder(config, pretrained: bool) -> nn.Module:
    """The encoder of `config.architecture` (one of ARCHITECTURES); it has a `features` attribute."""
    kinds = {"convnet": ConvNetEncoder, "nbf": PartSegmentationEncoder, "decomr": LocationMapEncoder,
             "pointset": PointSetEncoder, "partwise": PartwiseEncoder}
    return kinds[config.architecture](config, pretrained)
