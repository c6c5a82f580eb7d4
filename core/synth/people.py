"""Synthetic DensePose-COCO-like projects with exact ground truth (`deformlearn synth`).

Each image holds `people_per_image` bodies of the project's template: a pose (from motion files when given: AMASS
motion capture or SMPL parameter files; else sampled within joint limits, `core.synth.poses`), random segment
scales, a random global rotation (any yaw, small pitch and roll) and a weak-perspective camera. Rendered
offscreen: an RGB image textured with a DensePose atlas (pyrender; a numpy shaded atlas look-up when OpenGL is
unavailable) and the exact IUV and INDS images of the visible surface.

Camera and pixel frames (the store's convention, `core.densepose.records`): the centre of pixel (row r,
column c) is at (x, y) = (c, r). A body-frame point X lands at `x_px = scale * (R X)[:2] + translation`
(R: (3, 3) body -> camera rotation, x right, y down, z away from the viewer; scale: pixels per metre;
translation: (2,) pixels). The renderer's frame puts pixel (r, c) over [c, c+1) x [r, r+1), so meshes are
handed to it shifted by +0.5 pixel.

Annotations per person (DensePose-COCO-like): 100 to 150 dense points stratified over the visible parts
(`core.synth.annotate`). By default (points_at="vertices") each point is a visible template vertex: xy = its
exact sub-pixel projection, (I, U, V) = its chart coordinates, so the ground-truth parameters project the
annotated vertex onto the annotated point. With points_at="pixels" the points are pixel centres (c, r), as
an annotator clicks them, with the exact (I, U, V) of the surface there; the ground truth then holds that
surface point (face and barycentric weights) and its nearest face corner as the vertex. COCO-17 keypoints
from the body model with visibility 2 (seen), 1 (hidden by the body, another person or an occluder), 0
(outside the image, stored as 0, 0).
Options add Gaussian noise to U, V and keypoints, a painted occluder rectangle (its pixels leave the IUV and
INDS images, its points are dropped) and truncation (the person partly outside the image).

Ground truth per person (`Project.ground_truth`): pose (23, 3), scales (24,), rotation (3, 3), scale (1,),
translation (2,), depth_offset (1,), joints3d (24, 3), keypoints3d (17, 3) and vertices (V, 3, float16) in the
body frame (metres, root at the origin), keypoints2d (17, 2) exact projections, point_vertex (N,) template vertex
of each dense point, point_face (N,) and point_barycentric (N, 3) its exact surface point, point_uv (N, 2) its
noise-free (U, V), motion_frame (1,) the frame among all motion files' frames in order (-1 when the pose was
sampled), occluder (4,) x, y, w, h pixels (zeros when none), truncated (1,), template_key (a 0-d string: the
template version the vertex indices refer to).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from deformlearn.core.body.camera import FRONTAL_ROTATION_VALUES
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.skeletons import NUM_JOINTS, SMPL_PARENTS
from deformlearn.core.body.template import Template
from deformlearn.core.densepose.correspondence import map_to_vertices, template_key
from deformlearn.core.densepose.records import DensePoints, bbox_of_points
from deformlearn.core.project.importing import EMBEDDED_IMAGES_DIR, load_project_template
from deformlearn.core.project.store import Project
from deformlearn.core.render.offscreen import OffscreenRenderer, RenderError, load_atlas
from deformlearn.core.render.raster import rasterize
from deformlearn.core.synth.annotate import keypoint_annotations, pixel_points, vertex_points
from deformlearn.core.synth.images import (
    atlas_lookup,
    background,
    composite,
    occluder_patch,
    shade_from_depth,
)
from deformlearn.core.synth.poses import load_motion_poses, sample_limited_poses
from deformlearn.core.synth.settings import SynthReport, SynthSettings

_MIRROR = np.array([0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22])


def rotation_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) body -> camera rotation: frontal view, turned by yaw about the body's vertical axis, then
    rolled about the viewing axis and pitched about the horizontal image axis (radians)."""
    def axis(k: int, a: float) -> np.ndarray:
        c, s = np.cos(a), np.sin(a)
        i, j = [(1, 2), (2, 0), (0, 1)][k]
        m = np.eye(3)
        m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
        return m
    return np.array(FRONTAL_ROTATION_VALUES) @ axis(0, pitch) @ axis(2, roll) @ axis(1, yaw)


def sample_segment_scales(rng: np.random.Generator, count: int, sigma: float) -> np.ndarray:
    """(count, 24) segment scales around 1: N(0, sigma) per joint, equal on the left and right sides, each
    averaged with its parent's so neighbouring segments agree (a varied but plausible body)."""
    e = rng.standard_normal((count, NUM_JOINTS)) * sigma
    e = 0.5 * (e + e[:, _MIRROR])
    d = np.zeros_like(e)
    for j in range(NUM_JOINTS):
        d[:, j] = e[:, j] if SMPL_PARENTS[j] < 0 else 0.5 * (e[:, j] + d[:, SMPL_PARENTS[j]])
    return (1.0 + d).astype(np.float32)


def _fit_atlas(atlas: np.ndarray, image_size: int) -> np.ndarray:
    """The atlas shrunk to tiles of at most image_size / 2 pixels (a part never covers more of the image):
    the renderer uploads it for every frame, and a full-size DensePose atlas costs more than the drawing."""
    tile = atlas.shape[0] // 6
    target = int(np.clip(image_size // 2, 32, tile))
    if target == tile:
        return atlas
    return cv2.resize(atlas, (4 * target, 6 * target), interpolation=cv2.INTER_AREA)


class _Renderer:
    """The lit atlas render, falling back (once, with a warning) to a numpy shaded atlas look-up."""

    def __init__(self, atlas: np.ndarray) -> None:
        self.atlas = atlas
        self.gl: OffscreenRenderer | None = OffscreenRenderer()
        self.name = "pyrender"

    def rgb(self, vertices_px: np.ndarray, template: Template, size: int, iuv: np.ndarray, depth: np.ndarray
            ) -> np.ndarray:
        if self.gl is not None:
            try:
                return self.gl.render(vertices_px, template.faces, width=size, height=size, mode="atlas",
                                      template=template, atlas=self.atlas).color
            except RenderError as exc:
                warnings.warn(f"synth: lit rendering unavailable ({exc}); using the numpy atlas shading",
                              stacklevel=2)
                self.close()
                self.gl, self.name = None, "numpy"
        return shade_from_depth(atlas_lookup(iuv, self.atlas), depth)

    def close(self) -> None:
        if self.gl is not None:
            self.gl.close()


class _Generator:
    """Holds what every image needs: template, body model, faces, motion, atlas, renderer."""

    def __init__(self, template: Template, settings: SynthSettings, motion: list[np.ndarray],
                 atlas: np.ndarray) -> None:
        self.t = template
        self.s = settings
        self.body = BodyModel(template)
        self.motion = np.concatenate(motion) if motion else None  # (T, 23, 3) every file's frames in order
        self.motion_lengths = np.array([len(m) for m in motion], np.int64)
        self.renderer = _Renderer(_fit_atlas(atlas, settings.image_size))
        self.key = template_key(template)
        self.iuv_gl = OffscreenRenderer()  # "iuv" mode is numpy: never opens a GL context

    def draw_bodies(self, rng: np.random.Generator, k: int) -> dict[str, np.ndarray]:
        if self.motion is None:
            frame = np.full(k, -1)
            pose = sample_limited_poses(rng, k, self.s.pose_spread)
        else:
            lengths = self.motion_lengths
            file = rng.integers(0, len(lengths), k)
            frame = np.cumsum(lengths)[file] - lengths[file] + (rng.random(k) * lengths[file]).astype(np.int64)
            pose = self.motion[frame]
            if self.s.motion_jitter > 0:
                pose = (pose + rng.normal(0, self.s.motion_jitter, pose.shape)).astype(np.float32)
        yaw = rng.uniform(-np.pi, np.pi, k)
        pitch, roll = rng.normal(0, self.s.pitch_sigma, k), rng.normal(0, self.s.roll_sigma, k)
        return {"pose": pose, "scales": sample_segment_scales(rng, k, self.s.scale_sigma),
                "rotation": np.stack([rotation_matrix(*a) for a in zip(yaw, pitch, roll)]).astype(np.float32),
                "motion_frame": frame}

    def image(self, index: int, rng: np.random.Generator, bodies: dict[str, np.ndarray], out: dict[str, np.ndarray],
              images_dir: Path) -> tuple[str, list[dict]]:
        """Render image `index` and annotate its people; returns the image file name and one dict per person."""
        s, t, size = self.s, self.t, self.s.image_size
        k = len(bodies["pose"])
        verts, kps = out["vertices"].astype(np.float64), out["keypoints"].astype(np.float64)
        rank = rng.permutation(k)
        people, iuvs, depths, rgbs = [], [], [], []
        for j in range(k):
            R = bodies["rotation"][j].astype(np.float64)
            cam = verts[j] @ R.T
            lo, hi = cam[:, :2].min(0), cam[:, :2].max(0)
            scale = rng.uniform(0.55, 0.85) * size / max(hi - lo)
            centre = np.array([(j + 0.5) * size / k, size / 2]) + rng.normal(0, 0.04 * size, 2)
            truncated = rng.random() < s.truncation
            if truncated:
                side, frac = rng.integers(4), rng.uniform(0.15, 0.45)
                extent = scale * (hi - lo)[side % 2]
                centre[side % 2] = (size - 0.5 + (frac - 0.5) * extent) if side >= 2 else (-0.5 - (frac - 0.5) * extent)
            translation = centre - scale * (lo + hi) / 2
            depth_offset = float(rank[j]) * 10.0 * size
            px = np.column_stack([scale * cam[:, :2] + translation + 0.5, scale * cam[:, 2] + depth_offset])
            res = self.iuv_gl.render(px, t.faces, width=size, height=size, mode="iuv", template=t)
            iuvs.append(res.iuv)
            depths.append(res.depth)
            rgbs.append(self.renderer.rgb(px, t, size, res.iuv, res.depth))
            kcam = kps[j] @ R.T
            kp = np.column_stack([scale * kcam[:, :2] + translation, scale * kcam[:, 2] + depth_offset])
            people.append({"R": R, "scale": scale, "translation": translation, "depth_offset": depth_offset,
                           "px": px, "cam": cam, "truncated": truncated, "kp": kp})
        inds, zbuf = composite(depths)
        sel = np.maximum(inds.astype(np.int64) - 1, 0)[None, ..., None]
        iuv = np.take_along_axis(np.stack(iuvs), sel, 0)[0]
        iuv[inds == 0] = 0
        rgb = background(rng, size, size, s.background)
        fg = inds > 0
        rgb[fg] = np.take_along_axis(np.stack(rgbs), sel, 0)[0][fg]
        occluder = np.zeros(4)
        occluded = np.zeros((size, size), dtype=bool)
        if rng.random() < s.occlusion:
            occluder = self._occluder_box(rng, people[rng.integers(k)]["px"][:, :2] - 0.5)
            x0, y0, w, h = occluder.astype(int)
            occluded[y0:y0 + h, x0:x0 + w] = True
            rgb[occluded] = occluder_patch(rng, h, w).reshape(-1, 3)
            iuv[occluded], inds[occluded], zbuf[occluded] = 0, 0, -np.inf
        name = f"synth_{index:06d}"
        # RGB as JPEG like COCO's photos (and 8x smaller than a PNG of a noisy background); labels lossless.
        for file, arr in ((f"{name}.jpg", rgb[..., ::-1]), (f"{name}_IUV.png", iuv), (f"{name}_INDS.png", inds)):
            params = [cv2.IMWRITE_JPEG_QUALITY, 92] if file.endswith(".jpg") else []
            if not cv2.imwrite(str(images_dir / file), np.ascontiguousarray(arr), params):
                raise OSError(f"{images_dir / file}: could not write the image")
        results = []
        for j, p in enumerate(people):
            results.append(self._annotate(rng, j, p, bodies, out, iuv, inds, depths[j], zbuf, occluded, occluder))
        return name, results

    def _occluder_box(self, rng: np.random.Generator, xy: np.ndarray) -> np.ndarray:
        """(4,) x, y, w, h integer pixel rectangle covering 20-45% of a person's box side, inside the image."""
        size = self.s.image_size
        lo = np.clip(xy.min(0), 0, size - 1)
        hi = np.clip(xy.max(0), 0, size - 1)
        wh = np.maximum((hi - lo) * rng.uniform(0.2, 0.45, 2), 4).astype(int)
        x0 = int(np.clip(rng.uniform(lo[0], max(hi[0] - wh[0], lo[0])), 0, size - wh[0]))
        y0 = int(np.clip(rng.uniform(lo[1], max(hi[1] - wh[1], lo[1])), 0, size - wh[1]))
        return np.array([x0, y0, wh[0], wh[1]], dtype=np.float32)

    def _annotate(self, rng, j: int, p: dict, bodies: dict, out: dict, iuv: np.ndarray, inds: np.ndarray,
                  own_depth: np.ndarray, zbuf: np.ndarray, occluded: np.ndarray, occluder: np.ndarray) -> dict:
        s, t, size = self.s, self.t, self.s.image_size
        px, scale = p["px"], p["scale"]
        own = inds == j + 1
        n = int(rng.integers(s.points[0], s.points[1] + 1))
        if s.points_at == "pixels":
            face_id, bary, _ = rasterize(px, t.faces, size, size)
            points = pixel_points(rng, t, face_id, bary, own, n)
        else:
            points = vertex_points(rng, t, px, p["cam"], own, iuv[..., 0], own_depth, s.surface_tolerance * scale, n)
        uv = points.uv
        if s.uv_noise > 0:
            uv = np.clip(uv + rng.normal(0, s.uv_noise, uv.shape), 0, 1)
        keypoints = keypoint_annotations(rng, p["kp"], occluded, zbuf, s.keypoint_tolerance * scale, s.keypoint_noise)
        mask_rows, mask_cols = np.nonzero(own)
        if len(mask_rows):
            bbox = bbox_of_points(np.column_stack([mask_cols, mask_rows]).astype(np.float32))
        else:
            bbox = bbox_of_points(np.clip(px[:, :2] - 0.5, 0, size - 1).astype(np.float32))
        gt = {
            "pose": bodies["pose"][j], "scales": bodies["scales"][j], "rotation": p["R"].astype(np.float32),
            "scale": np.array([scale], np.float32), "translation": p["translation"].astype(np.float32),
            "depth_offset": np.array([p["depth_offset"]], np.float32),
            "joints3d": out["joints"][j], "keypoints3d": out["keypoints"][j],
            "vertices": out["vertices"][j].astype(np.float16), "keypoints2d": p["kp"][:, :2].astype(np.float32),
            "point_vertex": points.vertex.astype(np.int64), "point_face": points.face.astype(np.int64),
            "point_barycentric": points.barycentric, "point_uv": points.uv,
            "motion_frame": np.array([bodies["motion_frame"][j]], np.int64), "occluder": occluder.astype(np.float32),
            "truncated": np.array([p["truncated"]]), "template_key": np.array(self.key),
        }
        dense = DensePoints(xy=points.xy, part=points.part, uv=uv)
        return {"bbox": bbox, "keypoints": keypoints, "dense": dense, "gt": gt}

    def close(self) -> None:
        self.renderer.close()


def _render_chunk(gen: _Generator, settings: SynthSettings, idx: range, images_dir: Path) -> list[tuple[str, list[dict]]]:
    """Draw, pose and render images `idx`; returns (image name, people) each. Each image's people are posed
    by one body-model call of their own: a batch's float rounding depends on its size on some CPUs, and a
    project must not depend on the chunking."""
    k = settings.people_per_image
    rendered = []
    for i in idx:
        rng = np.random.default_rng([settings.seed, i])
        bodies = gen.draw_bodies(rng, min(k, settings.count - i * k))
        with torch.no_grad():
            posed = gen.body(torch.as_tensor(bodies["pose"]), torch.as_tensor(bodies["scales"]))
        arrays = {f: getattr(posed, f).numpy() for f in ("vertices", "joints", "keypoints")}
        rendered.append(gen.image(i, rng, bodies, arrays, images_dir))
    return rendered


def _store_chunk(project: Project, tmpl, key: str, settings: SynthSettings, images_dir: Path,
                 rendered: list[tuple[str, list[dict]]]) -> list[int]:
    """Add a chunk's images and people (correspondences, ground truth) in one transaction; returns the
    dense point count of each person added."""
    points = []
    with project.transaction():
        for name, people in rendered:
            image_id = project.add_image(images_dir / f"{name}.jpg", settings.image_size, settings.image_size,
                                         iuv_file=images_dir / f"{name}_IUV.png", inds_file=images_dir / f"{name}_INDS.png")
            for j, person in enumerate(people):
                dense = person["dense"]
                pid = project.add_person(image_id, bbox=person["bbox"], keypoints=person["keypoints"], dense=dense,
                                         source_key=f"synth:{settings.seed}:{name}#{j}", name=f"{name}#{j}")
                if pid is None:
                    continue
                if len(dense):
                    vertex, residual = map_to_vertices(tmpl, dense.part, dense.uv)
                    project.set_correspondences(pid, key, vertex, residual)
                project.set_ground_truth(pid, person["gt"])
                points.append(len(dense))
    return points


def synthesize_project(out: str | Path, settings: SynthSettings, *, template: str = "builtin",
                       progress: Callable[[int, int], None] | None = None) -> SynthReport:
    """Create the project folder `out` (must not be a project yet) holding `settings.count` synthetic people.

    template: the project's template spec ("builtin" or a template .npz path). progress(done, total) is
    called after each chunk of images, which is written in one transaction. Deterministic for a seed: image
    i draws everything from numpy's generator seeded with (seed, i).
    """
    settings.check()
    start = time.perf_counter()
    # Read the inputs before creating anything, so a bad file leaves no half-made project behind.
    motion = [load_motion_poses(f) for f in settings.motion_files()]
    atlas = load_atlas(settings.texture)
    project = Project.create(out, template=template)
    with project:
        tmpl = load_project_template(project)
        gen = _Generator(tmpl, settings, motion, atlas)
        images_dir = project.root / EMBEDDED_IMAGES_DIR
        images_dir.mkdir(parents=True, exist_ok=True)
        key = gen.key
        n_images = -(-settings.count // settings.people_per_image)
        done, points = 0, []
        try:
            for first in range(0, n_images, settings.chunk):
                idx = range(first, min(first + settings.chunk, n_images))
                points += _store_chunk(project, tmpl, key, settings, images_dir, _render_chunk(gen, settings, idx, images_dir))
                done += len(idx)
                if progress is not None:
                    progress(done, n_images)
        finally:
            gen.close()
    return SynthReport(people=len(points), images=n_images, seconds=time.perf_counter() - start,
                       renderer=gen.renderer.name, points_mean=float(np.mean(points)) if points else 0.0)


def project_ground_truth(body: BodyModel, gt: dict[str, np.ndarray], vertex_index: np.ndarray) -> np.ndarray:
    """(N, 2) image pixels (store frame) of template vertices `vertex_index` (N,) under a person's ground
    truth: `scale * (R X)[:2] + translation` with X from the body model at the stored pose and scales."""
    with torch.no_grad():
        out = body(torch.as_tensor(gt["pose"])[None], torch.as_tensor(gt["scales"])[None],
                   torch.as_tensor(np.asarray(vertex_index, dtype=np.int64))[None])
    X = out.vertices[0].double().numpy()
    return float(gt["scale"][0]) * (X @ gt["rotation"].astype(np.float64).T)[:, :2] + gt["translation"]


__all__ = ["project_ground_truth", "rotation_matrix", "sample_segment_scales", "synthesize_project"]
