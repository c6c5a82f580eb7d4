"""Novel-view augmentation: a registration is a whole 3D body, so each training fit is shown from new cameras.

For a person chosen (probability `novel_views`), with registered pose, scales and camera rotation R:
1. a new rotation R' = Rx(pitch) Rz(roll) R Ry(yaw): the person turned about their own vertical axis (body
   frame y) by yaw, uniform in +-`view_yaw`, then the camera pitched and rolled (camera frame) by Gaussian
   angles of std `view_pitch`, `view_roll`;
2. the fitted body's vertices X (body frame) projected orthographically by R'; the new weak-perspective scale
   s' and translation t' put the projected body's bounding box where an annotation's box puts a person: its
   longer side spans [-1, 1] of the normalised frame, centred (`core.registration.data.square_box`);
3. the visible vertices: facing the camera (camera-frame vertex normal z < -0.1, as `core.synth` tests it) and
   not behind another part of the body (a z-buffer of the facing vertices on a `ZBUFFER_CELLS`^2 grid over the
   box: a vertex is visible within `SURFACE_TOLERANCE_M` of its cell's nearest depth);
4. a random number of them (log-uniform in [`view_points`, N]: sparse COCO-like sets up to the batch's
   width) drawn stratified by part (each visible part equally likely, as DensePose annotators and `core.synth`
   place points), at their exact projections plus noise of std `POINT_NOISE` (about a pixel of a 256-px box),
   with the template's (part, U, V) of each vertex;
5. the 17 keypoints projected; hidden when outside the box, and at random (up to 10 % of a person's): like
   COCO's and `core.synth`'s labels, a keypoint behind the body stays labelled.
The targets become the fit with (R', s', t') and its hip-centred keypoint depths; scales stay, and so does
the pose, except for a share `novel_poses` of these people, whose pose is also changed (before step 2): every
joint's axis-angle plus Gaussian noise of std `view_pose` radians, so that the regressor sees poses beyond the
training fits' own (the body, its visible points and keypoints are those of the new pose). The
usual augmentation (`augment`: flip, similarity, dropout, partial views) then applies on top.

Point architectures only: the ConvNet's crop is an image that cannot be re-rendered from a fit here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from deformlearn.core.body.camera import weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.regressor.data import RegressorSamples

ZBUFFER_CELLS = 48
SURFACE_TOLERANCE_M = 0.05
POINT_NOISE = 0.008
FACING_NORMAL_Z = -0.1


@dataclass(frozen=True)
class ViewDraws:
    """One batch's random draws for B people padded to N points: chosen (B,) bool people shown anew;
    yaw, pitch, roll (B,) radians; count (B,) int64 points to keep; gumbel (B, V) keys of the point
    sampling; noise (B, N, 2) added to the new points; keypoint_drop (B, 17) bool keypoints dropped;
    pose_noise (B, 23, 3) radians added to the pose (all zero for a person who keeps their pose)."""

    chosen: Tensor
    yaw: Tensor
    pitch: Tensor
    roll: Tensor
    count: Tensor
    gumbel: Tensor
    noise: Tensor
    keypoint_drop: Tensor
    pose_noise: Tensor


def draw_views(n: int, num_points: int, num_vertices: int, settings, step: int) -> ViewDraws:
    """The draws for a batch of n people padded to `num_points` (CPU tensors), from a generator seeded by
    (settings.seed, step), so that a resumed run draws the same. settings: a RegressorTrainingSettings."""
    gen = torch.Generator().manual_seed(settings.seed * 104729 + step + 7)
    chosen = torch.rand(n, generator=gen) < settings.novel_views
    yaw = settings.view_yaw * (2 * torch.rand(n, generator=gen) - 1)
    pitch = settings.view_pitch * torch.randn(n, generator=gen)
    roll = settings.view_roll * torch.randn(n, generator=gen)
    low = min(settings.view_points, num_points)
    log_count = math.log(low) + (math.log(num_points) - math.log(low)) * torch.rand(n, generator=gen)
    count = log_count.exp().round().long().clamp(1, num_points)
    uniform = torch.rand(n, num_vertices, generator=gen).clamp(1e-12, 1 - 1e-7)
    gumbel = -torch.log(-torch.log(uniform))
    noise = POINT_NOISE * torch.randn(n, num_points, 2, generator=gen)
    keypoint_drop = torch.rand(n, 17, generator=gen) < 0.1 * torch.rand(n, 1, generator=gen)
    reposed = torch.rand(n, generator=gen) < settings.novel_poses
    pose_noise = settings.view_pose * torch.randn(n, 23, 3, generator=gen) * reposed[:, None, None]
    return ViewDraws(chosen, yaw, pitch, roll, count, gumbel, noise, keypoint_drop, pose_noise)


def _axis_rotation(axis: int, angle: Tensor) -> Tensor:
    """(B,) angles -> (B, 3, 3) rotations about coordinate axis 0 (x), 1 (y) or 2 (z)."""
    c, s = angle.cos(), angle.sin()
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m = torch.eye(3, dtype=angle.dtype, device=angle.device).repeat(len(angle), 1, 1)
    m[:, i, i], m[:, i, j], m[:, j, i], m[:, j, j] = c, -s, s, c
    return m


def vertex_normals_torch(vertices: Tensor, faces: Tensor, weld_index: Tensor) -> Tensor:
    """(B, V, 3) vertices, (F, 3) int64 faces, (V,) int64 weld index -> (B, V, 3) unit area-weighted normals,
    one per welded surface point (as `core.render.normals.vertex_normals`)."""
    a, b, c = (vertices[:, faces[:, k]] for k in range(3))
    face_normal = torch.linalg.cross(b - a, c - a)
    summed = torch.zeros_like(vertices)
    for k in range(3):
        summed.index_add_(1, faces[:, k], face_normal)
    welded = torch.zeros_like(vertices).index_add_(1, weld_index, summed)[:, weld_index]
    return welded / welded.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def box_camera(projected: Tensor) -> tuple[Tensor, Tensor]:
    """(B, V, 2) vertices projected with scale 1 and no translation -> the weak-perspective scale (B,) and
    translation (B, 2) that map the square box of their bounding box onto [-1, 1]^2."""
    lo, hi = projected.amin(dim=1), projected.amax(dim=1)
    half = ((hi - lo).amax(dim=1) / 2).clamp_min(1e-6)
    scale = 1.0 / half
    return scale, -(lo + hi) / 2 * scale[:, None]


def visible_vertices(xy: Tensor, depth: Tensor, facing: Tensor, tolerance: Tensor) -> Tensor:
    """Z-buffer of the facing vertices: xy (B, V, 2) normalised frame, depth (B, V), facing (B, V) bool,
    tolerance (B,) in depth units. Returns (B, V) bool: facing and within `tolerance` of the nearest facing
    depth in its cell of the ZBUFFER_CELLS^2 grid over [-1, 1]^2."""
    G = ZBUFFER_CELLS
    B = xy.shape[0]
    cell = _cell_of(xy)
    masked = torch.where(facing, depth, torch.full_like(depth, float("inf")))
    cell_depth = torch.full((B, G * G), float("inf"), dtype=depth.dtype, device=depth.device)
    cell_depth = cell_depth.scatter_reduce(1, cell, masked, reduce="amin")
    visible = facing & (depth <= cell_depth.gather(1, cell) + tolerance[:, None])
    return visible


def _cell_of(xy: Tensor) -> Tensor:
    """(B, K, 2) normalised points -> (B, K) int64 index of their z-buffer cell (clamped into the grid)."""
    G = ZBUFFER_CELLS
    col = ((xy[..., 0] + 1) * 0.5 * G).floor().long().clamp(0, G - 1)
    row = ((xy[..., 1] + 1) * 0.5 * G).floor().long().clamp(0, G - 1)
    return row * G + col


def stratified_pick(visible: Tensor, vertex_part: Tensor, gumbel: Tensor, count: Tensor, num_points: int
                    ) -> tuple[Tensor, Tensor]:
    """Draw up to `count` (B,) visible vertices per person without replacement, each visible part equally
    likely (Gumbel top-k of log weights 1 / visible vertices of the part). visible (B, V) bool, vertex_part
    (V,) int64 1..24, gumbel (B, V). Returns vertex (B, num_points) int64 and mask (B, num_points) bool."""
    parts = torch.nn.functional.one_hot(vertex_part, 25).to(visible.device, torch.float32)  # (V, 25)
    per_part = visible.float() @ parts  # (B, 25) visible vertices of each part
    weight = 1.0 / per_part.gather(1, vertex_part.expand(visible.shape[0], -1)).clamp_min(1.0)
    keys = torch.where(visible, weight.log() + gumbel, torch.full_like(gumbel, -float("inf")))
    best, vertex = keys.topk(num_points, dim=1)
    rank = torch.arange(num_points, device=visible.device)[None]
    return vertex, (rank < count[:, None]) & torch.isfinite(best)


def body_surface(body: BodyModel, pose: Tensor, scales: Tensor, tables: ViewTables) -> tuple[Tensor, Tensor]:
    """Posed vertices (B, V, 3) and their unit normals (B, V, 3), body frame, of pose (B, 23, 3), scales (B, 24)."""
    vertices = body(pose, scales).vertices
    return vertices, vertex_normals_torch(vertices, tables.faces, tables.weld_index)


class SurfaceCache:
    """Every training person's posed vertices and normals (body frame, float16): they depend on the fit, not
    on the view, so `novel_views` need not skin and shade each step (0.042 -> 0.018 s for 16 people, 1
    thread). Not kept for more than `max_bytes` of them; then each batch computes its own."""

    def __init__(self, body: BodyModel, samples: RegressorSamples, tables: ViewTables, *, chunk: int = 64,
                 max_bytes: float = 5e8) -> None:
        P, V = len(samples), body.num_vertices
        self.vertices = self.normals = None
        if P * V * 12 > max_bytes:
            return
        device = body.rest_vertices.device
        vertices, normals = [], []
        with torch.no_grad():
            for start in range(0, P, chunk):
                rows = slice(start, start + chunk)
                v, n = body_surface(body, samples.pose[rows].to(device), samples.scales[rows].to(device), tables)
                vertices.append(v.half())
                normals.append(n.half())
        self.vertices, self.normals = torch.cat(vertices), torch.cat(normals)

    def get(self, rows: Tensor) -> tuple[Tensor, Tensor] | None:
        """Vertices and normals (M, V, 3) float32 of the people at `rows` (M,), or None when not cached."""
        if self.vertices is None:
            return None
        rows = rows.to(self.vertices.device)
        return self.vertices[rows].float(), self.normals[rows].float()


@torch.no_grad()
def novel_views(batch: RegressorSamples, body: BodyModel, draws: ViewDraws, tables: ViewTables,
                surface: tuple[Tensor, Tensor] | None = None) -> RegressorSamples:
    """The batch with the people `draws.chosen` shown from new cameras (module docstring), targets with them.
    batch: B people with registered targets, padded to N points; body, tables: of the same template, on the
    batch's device; surface: the batch's (B, V, 3) posed vertices and normals (`SurfaceCache.get`), or None
    to compute them."""
    if not batch.has_targets:
        raise ValueError("novel_views: the samples carry no registered fits to re-pose")
    chosen = draws.chosen
    if not bool(chosen.any()):
        return batch
    sub = batch.subset(chosen)
    d = {name: value[chosen] for name, value in draws.__dict__.items()}
    if bool(d["pose_noise"].any()):
        sub = replace(sub, pose=sub.pose + d["pose_noise"].to(sub.pose))
        surface = None  # a new pose has a new surface
    if surface is None:
        vertices, normals = body_surface(body, sub.pose, sub.scales, tables)
    else:
        vertices, normals = surface[0][chosen], surface[1][chosen]
    rotation = (_axis_rotation(0, d["pitch"]) @ _axis_rotation(2, d["roll"]) @ sub.rotation
                @ _axis_rotation(1, d["yaw"]))
    unit = torch.ones_like(d["yaw"])
    projected, _ = weak_perspective_project(vertices, rotation, unit, torch.zeros_like(sub.translation))
    scale, translation = box_camera(projected)
    xy = projected * scale[:, None, None] + translation[:, None]
    depth = (vertices @ rotation[:, 2, :, None])[..., 0] * scale[:, None]
    facing = (normals @ rotation[:, 2, :, None])[..., 0] < FACING_NORMAL_Z
    visible = visible_vertices(xy, depth, facing, SURFACE_TOLERANCE_M * scale)
    N = batch.points.shape[1]
    vertex, mask = stratified_pick(visible, tables.vertex_part, d["gumbel"], d["count"], N)
    points = xy.gather(1, vertex[..., None].expand(-1, -1, 2)) + d["noise"]
    kp_xy, kp_depth = weak_perspective_project(body(sub.pose, sub.scales, vertex[:, :1]).keypoints, rotation,
                                               scale, translation)
    kp_visible = (kp_xy.abs() <= 1.05).all(-1) & ~d["keypoint_drop"]
    moved = replace(sub, points=points, vertex_index=vertex, point_part=tables.vertex_part[vertex],
                    point_uv=tables.vertex_uv[vertex], point_mask=mask, keypoints=kp_xy,
                    keypoint_visible=kp_visible, rotation=rotation, cam_scale=scale, translation=translation,
                    keypoint_depths=kp_depth if sub.keypoint_depths is not None else None)
    return _scatter(batch, chosen, moved)


def _scatter(batch: RegressorSamples, chosen: Tensor, moved: RegressorSamples) -> RegressorSamples:
    """`batch` with the rows `chosen` (B,) bool replaced by `moved`'s (same fields, dtypes and widths)."""
    fields = {}
    for name, value in batch.__dict__.items():
        new = getattr(moved, name)
        if value is None or new is None or name in ("rgb", "iuv"):
            fields[name] = value
            continue
        merged = value.clone()
        merged[chosen] = new.to(value.dtype)
        fields[name] = merged
    return RegressorSamples(**fields)


@dataclass(frozen=True)
class ViewTables:
    """What `novel_views` needs of the template: faces (F, 3), weld_index (V,), vertex_part (V,) int64 1..24,
    vertex_uv (V, 2) float32."""

    faces: Tensor
    weld_index: Tensor
    vertex_part: Tensor
    vertex_uv: Tensor


def view_tables(template, device: torch.device | str = "cpu") -> ViewTables:
    """The template's ViewTables on `device`."""
    def as_tensor(x, dtype: torch.dtype) -> Tensor:
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=device)
    return ViewTables(as_tensor(template.faces, torch.int64), as_tensor(template.weld_index, torch.int64),
                      as_tensor(template.vertex_part, torch.int64), as_tensor(template.vertex_uv, torch.float32))
