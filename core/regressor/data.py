"""Person crops for the regressor: the square box of the registration's normalised frame, resampled.

A crop of side S pixels spans the person's normalised frame [-1, 1]^2 (x right, y down): crop pixel
(u, v) has its centre at normalised (-1 + (2u + 1) / S, -1 + (2v + 1) / S), which is image pixel
`centre + half * normalised`. So a regressor predicting the camera (s, t) in the normalised frame predicts
it for the crop too, and crops are stored as uint8 (RGB 0..255; IUV with I = part 0..24, U, V = 0..255).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import gram_schmidt_rotation
from deformlearn.core.registration.data import collate, persons_from_project, pixels_to_normalised, square_box
from deformlearn.core.regressor.inputs import RegressorInputs
from deformlearn.core.regressor.network import INPUT_CHANNELS, RegressorConfig


def crop_square(image: np.ndarray, centre: np.ndarray, half: float, size: int, *, nearest: bool = False
                ) -> np.ndarray:
    """Resample the square [centre - half, centre + half]^2 (image pixels) of `image` to size x size.

    image: (H, W, C) uint8. centre: (2,) x, y pixels. half: half the square's side, pixels. Pixels outside the
    image are 0. nearest: nearest-neighbour sampling (for label images such as IUV), else bilinear.
    Returns (size, size, C) uint8.
    """
    if image.ndim != 3:
        raise ValueError(f"crop_square: expected an (H, W, C) image, got shape {image.shape}")
    if half <= 0:
        raise ValueError(f"crop_square: half-size must be positive, got {half}")
    step = 2.0 * half / size
    # affine map crop pixel (u, v) -> image pixel: x = centre_x - half + (u + 0.5) * step
    matrix = np.array([[step, 0.0, centre[0] - half + 0.5 * step],
                       [0.0, step, centre[1] - half + 0.5 * step]], dtype=np.float64)
    flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(image, matrix, (size, size), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(size, size, image.shape[2])


def splat_iuv(points: np.ndarray, part: np.ndarray, uv: np.ndarray, size: int, radius: int = 1) -> np.ndarray:
    """An IUV crop drawn from sparse annotated points, for people without a dense IUV image.

    points: (N, 2) normalised frame; part: (N,) 1..24; uv: (N, 2) in [0, 1]. Each point paints a
    (2 radius + 1)^2 square. Returns (size, size, 3) uint8 [I, U*255, V*255].
    """
    out = np.zeros((size, size, 3), dtype=np.uint8)
    px = np.floor((np.asarray(points, dtype=np.float64) + 1.0) * 0.5 * size).astype(np.int64)
    values = np.stack([part, np.round(uv[:, 0] * 255), np.round(uv[:, 1] * 255)], 1).astype(np.uint8)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            x, y = px[:, 0] + dx, px[:, 1] + dy
            ok = (x >= 0) & (x < size) & (y >= 0) & (y < size)
            out[y[ok], x[ok]] = values[ok]
    return out


def crops_to_input(rgb: torch.Tensor | None, iuv: torch.Tensor | None, mode: str) -> torch.Tensor:
    """uint8 crops -> the regressor's float input for `mode`.

    rgb: (B, S, S, 3) or (B, 3, S, S) uint8 RGB; iuv: same with [I, U, V]. Returns (B, C, S, S) float:
    RGB / 255; one-hot I (24 channels), U / 255, V / 255 (see `regressor`).
    """
    if mode not in INPUT_CHANNELS:
        raise ValueError(f"unknown regressor input {mode!r}")
    parts = []
    if "rgb" in mode:
        if rgb is None:
            raise ValueError(f"regressor input {mode!r} needs RGB crops")
        parts.append(_chw(rgb).float() / 255.0)
    if "iuv" in mode:
        if iuv is None:
            raise ValueError(f"regressor input {mode!r} needs IUV crops")
        x = _chw(iuv)
        part = x[:, :1].long()
        one_hot = (part == torch.arange(1, 25, device=x.device).view(1, 24, 1, 1)).float()
        parts.append(torch.cat([one_hot, x[:, 1:].float() / 255.0], dim=1))
    return torch.cat(parts, dim=1)


def _chw(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4:
        raise ValueError(f"crops must be (B, S, S, 3) or (B, 3, S, S), got {tuple(x.shape)}")
    return x if x.shape[1] == 3 else x.permute(0, 3, 1, 2)


@dataclass
class RegressorSamples:
    """Training (or prediction) data for P people, all in each person's normalised frame.

    person_ids: (P,) int64. rgb, iuv: (P, 3, S, S) uint8 crops or None (see module docstring).
    points: (P, N, 2) annotated image points; vertex_index: (P, N) int64 their template vertices;
    point_part: (P, N) int64 and point_uv: (P, N, 2) float the DensePose (part, U, V) of those vertices
    (what the point-based architectures read); point_mask: (P, N) bool.
    keypoints: (P, 17, 2); keypoint_visible: (P, 17) bool.
    pose (P, 23, 3) axis-angle, scales (P, 24), rotation (P, 3, 3), cam_scale (P,), translation (P, 2):
        the registered parameters (targets), or None for prediction.
    keypoint_depths: (P, 17) hip-centred keypoint depths of the registered fit (targets of L_KP's z term),
        or None.
    """

    person_ids: torch.Tensor
    rgb: torch.Tensor | None
    iuv: torch.Tensor | None
    points: torch.Tensor
    vertex_index: torch.Tensor
    point_part: torch.Tensor
    point_uv: torch.Tensor
    point_mask: torch.Tensor
    keypoints: torch.Tensor
    keypoint_visible: torch.Tensor
    pose: torch.Tensor | None = None
    scales: torch.Tensor | None = None
    rotation: torch.Tensor | None = None
    cam_scale: torch.Tensor | None = None
    translation: torch.Tensor | None = None
    keypoint_depths: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.person_ids.shape[0])

    @property
    def has_targets(self) -> bool:
        return self.pose is not None

    def subset(self, index: torch.Tensor) -> RegressorSamples:
        """The samples at `index` ((M,) int64 or (P,) bool)."""
        def pick(x):
            return None if x is None else x[index]
        return RegressorSamples(**{k: pick(v) for k, v in self.__dict__.items()})

    def to(self, device: torch.device | str) -> RegressorSamples:
        return RegressorSamples(**{k: None if v is None else v.to(device) for k, v in self.__dict__.items()})

    def crop_images(self, mode: str | None) -> torch.Tensor | None:
        """(P, C, S, S) float crop input for a convnet `mode`, or None for mode None (point architectures)."""
        return None if mode is None else crops_to_input(self.rgb, self.iuv, mode)

    def model_inputs(self, config: RegressorConfig, images: torch.Tensor | None = None,
                     point_mask: torch.Tensor | None = None) -> RegressorInputs:
        """The regressor's inputs for these samples: their points (at most `config.max_points` each: a fixed,
        evenly spread subset of the ones `point_mask` (P, N) keeps, default all), keypoints, and `images`
        (default: the crops `config.crop_mode` asks for)."""
        mask = self.point_mask if point_mask is None else point_mask
        mask = limit_points(mask, config.max_points)
        if images is None:
            images = self.crop_images(config.crop_mode)
        return RegressorInputs(points=self.points, part=self.point_part, uv=self.point_uv, point_mask=mask,
                               keypoints=self.keypoints, keypoint_visible=self.keypoint_visible, images=images)


def limit_points(mask: torch.Tensor, max_points: int) -> torch.Tensor:
    """(P, N) bool mask -> the same with at most `max_points` True per row: of a row with k > max_points,
    the kept ones at ranks floor(i k / max_points) (an even spread in annotation order, the same every call)."""
    count = mask.sum(dim=1, keepdim=True)
    if mask.numel() == 0 or int(count.max()) <= max_points:
        return mask
    rank = mask.long().cumsum(dim=1) - 1
    # keep rank r iff it is the first rank in its bin of width k / max_points
    bins = torch.div(rank * max_points, count.clamp_min(1), rounding_mode="floor")
    previous = torch.div((rank - 1) * max_points, count.clamp_min(1), rounding_mode="floor")
    return mask & ((count <= max_points) | (rank == 0) | (bins != previous))


class _ImageCache:
    """The last image read (people come in id order, mostly grouped by image)."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.image: np.ndarray | None = None

    def get(self, path: str, what: str) -> np.ndarray:
        if path != self.path:
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{path}: cannot read the {what} image")
            self.path, self.image = path, image
        return self.image


def load_crops(project, person_ids: np.ndarray, size: int, input_mode: str | None
               ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Crops of people in a `Project`, for the channels `input_mode` needs (none for None).

    Returns rgb, iuv: (P, 3, size, size) uint8 or None when the mode does not use them. IUV crops come from
    the image's IUV png (cv2 reads it as [I, U*255, V*255]; like the RGB crop it shows whatever lies in the
    box), else from the person's annotated dense points (`splat_iuv`), else they stay empty.
    """
    want_rgb, want_iuv = "rgb" in (input_mode or ""), "iuv" in (input_mode or "")
    P = len(person_ids)
    rgb = np.zeros((P, size, size, 3), np.uint8) if want_rgb else None
    iuv = np.zeros((P, size, size, 3), np.uint8) if want_iuv else None
    rgb_cache, iuv_cache = _ImageCache(), _ImageCache()
    for i, pid in enumerate(person_ids):
        record = project.person(int(pid))
        centre, half = square_box(record.bbox)
        if want_rgb:
            rgb[i] = crop_square(rgb_cache.get(record.image_file, "person"), centre, half, size)[..., ::-1]
        if want_iuv:
            if record.iuv_file is not None:
                iuv[i] = crop_square(iuv_cache.get(record.iuv_file, "IUV"), centre, half, size, nearest=True)
            elif record.dense is not None and len(record.dense):
                points = pixels_to_normalised(record.dense.xy, centre, half)
                iuv[i] = splat_iuv(points, record.dense.part, record.dense.uv, size)

    def to_tensor(x: np.ndarray | None) -> torch.Tensor | None:
        return None if x is None else torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))

    return to_tensor(rgb), to_tensor(iuv)


def fit_tensors(params: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack stored fit parameters (`FitRecord.params`: pose (23, 3), scales (24,), rotation (3, 3) or (9,),
    scale (), translation (2,)) into pose (P, 23, 3), scales (P, 24), rotation (P, 3, 3) (Gram-Schmidt),
    cam_scale (P,), translation (P, 2) float32 tensors."""
    def stack(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        try:
            return torch.from_numpy(np.stack([np.asarray(p[key], np.float32).reshape(shape) for p in params]))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"fit parameters: '{key}' missing or not of shape {shape} ({exc})") from exc

    return {"pose": stack("pose", (23, 3)), "scales": stack("scales", (24,)),
            "rotation": gram_schmidt_rotation(stack("rotation", (9,))), "cam_scale": stack("scale", ()),
            "translation": stack("translation", (2,))}


def samples_from_project(project, template, person_ids: np.ndarray, size: int, input_mode: str | None, *,
                         template_key: str, params: list[dict[str, np.ndarray]] | None = None) -> RegressorSamples:
    """The regressor's samples for people of a `Project`: crops for `input_mode` (none for None), dense points
    with their template vertices and those vertices' (part, U, V), keypoints (normalised frames), and, when
    `params` (one fit's parameters per person) are given, the targets with the fits' hip-centred keypoint
    depths."""
    person_ids = np.asarray(person_ids, dtype=np.int64)
    batch = collate(persons_from_project(project, [int(p) for p in person_ids], template_key))
    rgb, iuv = load_crops(project, person_ids, size, input_mode)
    part, uv = vertex_part_uv(template, batch.vertex_index)
    samples = RegressorSamples(
        person_ids=torch.from_numpy(person_ids), rgb=rgb, iuv=iuv, points=batch.points,
        vertex_index=batch.vertex_index, point_part=part, point_uv=uv, point_mask=batch.point_mask,
        keypoints=batch.keypoints, keypoint_visible=batch.keypoint_visible)
    if params is None:
        return samples
    if len(params) != len(person_ids):
        raise ValueError(f"samples_from_project: {len(params)} fits for {len(person_ids)} people")
    return with_targets(samples, template, fit_tensors(params))


def samples_for_model(project, template, person_ids: np.ndarray, config: RegressorConfig, *, template_key: str,
                      params: list[dict[str, np.ndarray]] | None = None) -> RegressorSamples:
    """`samples_from_project` with the crops (if any) that a regressor of `config` reads."""
    return samples_from_project(project, template, person_ids, config.crop_size, config.crop_mode,
                                template_key=template_key, params=params)


def vertex_part_uv(template, vertex_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, N) template vertex indices -> (P, N) int64 DensePose part and (P, N, 2) float32 (U, V) of each."""
    part = torch.as_tensor(np.asarray(template.vertex_part), dtype=torch.int64)
    uv = torch.as_tensor(np.asarray(template.vertex_uv), dtype=torch.float32)
    index = vertex_index.cpu()
    return part[index].to(vertex_index.device), uv[index].to(vertex_index.device)


def with_targets(samples: RegressorSamples, template, fit: dict[str, torch.Tensor]) -> RegressorSamples:
    """`samples` carrying the registered parameters `fit` (`fit_tensors`' layout) as targets, with their
    hip-centred keypoint depths."""
    with torch.no_grad():
        kp = BodyModel(template)(fit["pose"], fit["scales"]).keypoints
        _, depth = weak_perspective_project(kp, fit["rotation"], fit["cam_scale"], fit["translation"])
    return replace(samples, pose=fit["pose"], scales=fit["scales"], rotation=fit["rotation"],
                   cam_scale=fit["cam_scale"], translation=fit["translation"], keypoint_depths=depth)
