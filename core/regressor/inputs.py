"""What a regressor sees of one person, and the tensor functions that draw point inputs as images.

Every architecture reads one `RegressorInputs`: the person's annotated points with their DensePose
(part, U, V), the 17 COCO keypoints, and (for the ConvNet only) a crop image. Sparse COCO annotations,
points sampled from a dense IUV image, and the RGB crop are the same person's data in the same frame: the
person's normalised frame (the square box spans [-1, 1]^2, x right, y down; `core.registration.data`).

The image-like inputs of the NBF and DecoMR architectures are drawn from the points here, on the model's
device, after augmentation has moved the points; so training and prediction draw them the same way:
- `points_to_part_image`: a part segmentation (24 one-hot channels) in the crop's pixel grid;
- `points_to_uv_location_map`: DecoMR's location map, each point's image position written at its (part,
  U, V) in DensePose's texture atlas layout (6 rows x 4 columns of one tile per part).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from deformlearn.core.body.skeletons import NUM_KEYPOINTS, NUM_PARTS
from deformlearn.core.shape_checks import check_shape

#: DensePose's texture atlas: parts tile 6 rows x 4 columns, part p (1..24) in row (p-1) % 6, column (p-1) // 6.
ATLAS_ROWS, ATLAS_COLUMNS = 6, 4


@dataclass
class RegressorInputs:
    """A batch of B people as the regressor sees them (normalised frames).

    points: (B, N, 2) float image points; part: (B, N) int64 DensePose part 1..24 of each point;
    uv: (B, N, 2) float its (U, V) in [0, 1]; point_mask: (B, N) bool, the points the model may use.
    keypoints: (B, 17, 2) float COCO-17; keypoint_visible: (B, 17) bool.
    images: (B, C, S, S) float crop for the ConvNet architecture (see `network`), else None.
    """

    points: Tensor
    part: Tensor
    uv: Tensor
    point_mask: Tensor
    keypoints: Tensor
    keypoint_visible: Tensor
    images: Tensor | None = None

    def __post_init__(self) -> None:
        sizes = check_shape(self.points, ("B", "N", 2), "RegressorInputs.points")
        check_shape(self.part, ("B", "N"), "RegressorInputs.part", sizes)
        check_shape(self.uv, ("B", "N", 2), "RegressorInputs.uv", sizes)
        check_shape(self.point_mask, ("B", "N"), "RegressorInputs.point_mask", sizes)
        check_shape(self.keypoints, ("B", NUM_KEYPOINTS, 2), "RegressorInputs.keypoints", sizes)
        check_shape(self.keypoint_visible, ("B", NUM_KEYPOINTS), "RegressorInputs.keypoint_visible", sizes)
        if self.images is not None:
            check_shape(self.images, ("B", None, "S", "S"), "RegressorInputs.images", sizes)

    @property
    def batch_size(self) -> int:
        return int(self.points.shape[0])

    def to(self, device: torch.device | str) -> RegressorInputs:
        return RegressorInputs(**{k: None if v is None else v.to(device) for k, v in self.__dict__.items()})

    def with_images(self, images: Tensor | None) -> RegressorInputs:
        return replace(self, images=images)


def keypoint_vector(keypoints: Tensor, visible: Tensor) -> Tensor:
    """(B, 17, 2) keypoints and (B, 17) visibility -> (B, 51) [x, y, visible] per keypoint, zeros where hidden."""
    vis = visible.to(keypoints.dtype)[..., None]
    return torch.cat([keypoints * vis, vis], dim=-1).reshape(keypoints.shape[0], -1)


def _pixel_of(points: Tensor, size_x: int, size_y: int) -> tuple[Tensor, Tensor]:
    """(B, N, 2) normalised points -> (B, N) int64 column and row of the size_y x size_x grid over [-1, 1]^2."""
    col = torch.floor((points[..., 0] + 1.0) * 0.5 * size_x).long()
    row = torch.floor((points[..., 1] + 1.0) * 0.5 * size_y).long()
    return col, row


def points_to_part_image(points: Tensor, part: Tensor, mask: Tensor, size: int, radius: int = 1) -> Tensor:
    """Draw points as a part segmentation (NBF's input): (B, 24, size, size) float, channel p-1 = 1 where a
    point of part p lies within `radius` pixels (a (2 radius + 1)^2 square). points: (B, N, 2) normalised
    frame; part: (B, N) 1..24; mask: (B, N) bool. Points outside [-1, 1]^2 or of part 0 draw nothing."""
    B, N = part.shape
    out = torch.zeros(B * NUM_PARTS * size * size, device=points.device)
    col, row = _pixel_of(points, size, size)
    batch = torch.arange(B, device=points.device)[:, None].expand(B, N)
    valid = mask & (part >= 1) & (part <= NUM_PARTS)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            x, y = col + dx, row + dy
            ok = valid & (x >= 0) & (x < size) & (y >= 0) & (y < size)
            flat = ((batch * NUM_PARTS + part - 1) * size + y) * size + x
            out[flat[ok]] = 1.0
    return out.view(B, NUM_PARTS, size, size)


def points_to_uv_location_map(points: Tensor, part: Tensor, uv: Tensor, mask: Tensor, grid: int) -> Tensor:
    """DecoMR's location map of the points: (B, 3, 6 grid, 4 grid) float in DensePose's atlas layout; at
    the cell of each point's (part, U, V) (U along the tile's columns, V up its rows, as in the atlas image)
    channel 0 = 1 (occupied), channels 1, 2 = the mean image x, y of the points there, 0 elsewhere.
    points: (B, N, 2) normalised frame; part: (B, N) 1..24; uv: (B, N, 2) in [0, 1]; mask: (B, N) bool."""
    B, N = part.shape
    H, W = ATLAS_ROWS * grid, ATLAS_COLUMNS * grid
    valid = mask & (part >= 1) & (part <= NUM_PARTS)
    p = (part - 1).clamp(0, NUM_PARTS - 1)
    u = (uv[..., 0].clamp(0, 1) * (grid - 1)).round().long()
    v = ((1 - uv[..., 1].clamp(0, 1)) * (grid - 1)).round().long()
    row, col = (p % ATLAS_ROWS) * grid + v, (p // ATLAS_ROWS) * grid + u
    batch = torch.arange(B, device=points.device)[:, None].expand(B, N)
    flat = ((batch * H + row) * W + col)[valid]
    weight = points.new_zeros(B * H * W).index_add_(0, flat, points.new_ones(flat.shape[0]))
    sums = points.new_zeros(B * H * W, 2).index_add_(0, flat, points[valid])
    occupied = weight > 0
    mean = sums / weight.clamp_min(1)[:, None]
    out = torch.cat([occupied.to(points.dtype)[:, None], mean], dim=1)
    return out.view(B, H, W, 3).permute(0, 3, 1, 2).contiguous()
