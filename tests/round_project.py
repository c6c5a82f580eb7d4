"""A small synthetic project for round tests: the tiny template rendered to RGB + IUV images with ground truth.

Each person gets one 128 x 128 image: random pose (`core.synth.poses.sample_limited_poses` around the T-pose), segment scales
and a turn about the vertical axis; the mesh is rasterised exactly (`rasterize`) to an IUV png (DensePose's
file order: R = V * 255, G = U * 255, B = part) and an RGB png (the DensePose-layout atlas texture, shaded
from the depth map, over a blurred random background, as `deformlearn synth` draws it without OpenGL).
About 80 foreground pixels per person become dense points (pixel centre (c, r), part and interpolated UV from the IUV image),
and the ground truth is stored as fit-style parameters in the person's normalised frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from deformlearn.core.body.camera import frontal_rotation, weak_perspective_project
from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.rotations import axis_angle_to_rotmat
from deformlearn.core.body.template import load_builtin_template, save_template
from deformlearn.core.densepose.correspondence import map_to_vertices, template_key
from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.project.store import Project
from deformlearn.core.registration.data import square_box
from deformlearn.core.render.offscreen import load_atlas
from deformlearn.core.render.raster import rasterize
from deformlearn.core.synth.images import atlas_lookup, background, shade_from_depth
from deformlearn.core.synth.poses import sample_limited_poses
from tests.tiny_template import make_tiny_template

SIZE = 128


def make_round_project(path: Path, n: int = 24, seed: int = 0, points: int = 80, builtin: bool = False) -> Project:
    """Create (and return open) a project of `n` synthetic people on the tiny template (or the built-in one)."""
    path.mkdir(parents=True, exist_ok=True)
    if builtin:
        template = load_builtin_template()
        project = Project.create(path)
    else:
        template = make_tiny_template()
        save_template(template, path / "tiny_template.npz")
        project = Project.create(path, template="tiny_template.npz")
    body = BodyModel(template)
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    pose = torch.from_numpy(sample_limited_poses(np.random.default_rng(seed + 1), n, spread=0.08, centre="tpose"))
    scales = 1 + 0.05 * torch.randn(n, 24, generator=g)
    yaw = torch.zeros(n, 3)
    yaw[:, 1] = (torch.rand(n, generator=g) - 0.5) * 1.6
    rotation = frontal_rotation(n) @ axis_angle_to_rotmat(yaw)
    cam_scale = 45 + 5 * torch.rand(n, generator=g)
    translation = torch.tensor([SIZE / 2, SIZE / 2]) + 4 * torch.randn(n, 2, generator=g)
    with torch.no_grad():
        out = body(pose, scales)
        verts, depth = weak_perspective_project(out.vertices, rotation, cam_scale, translation)
        kp, _ = weak_perspective_project(out.keypoints, rotation, cam_scale, translation)
    atlas = load_atlas()
    faces = template.faces
    (path / "images").mkdir(exist_ok=True)
    key = template_key(template)
    for i in range(n):
        # rasterise in the rasteriser's frame, whose pixel centres sit at +0.5 of ours (pixel (r, c) at (c, r))
        v = np.concatenate([verts[i].numpy() + 0.5, depth[i].numpy()[:, None]], 1)
        face_id, bary, zbuf = rasterize(v, faces, SIZE, SIZE)
        fg = face_id >= 0
        tri = faces[np.where(fg, face_id, 0)]
        part = np.where(fg, template.vertex_part[tri[..., 0]], 0)
        uv = (bary[..., None] * template.vertex_uv[tri]).sum(-2)
        iuv = np.stack([part, np.round(uv[..., 0] * 255) * fg, np.round(uv[..., 1] * 255) * fg], -1).astype(np.uint8)
        person = shade_from_depth(atlas_lookup(iuv, atlas), zbuf)
        rgb = np.where(fg[..., None], person, background(rng, SIZE, SIZE, "noise"))
        image_file, iuv_file = path / "images" / f"{i:04d}.png", path / "images" / f"{i:04d}_IUV.png"
        cv2.imwrite(str(image_file), rgb[..., ::-1])
        cv2.imwrite(str(iuv_file), iuv)  # cv2 writes [B, G, R] = [I, U, V]: the file's R = V, G = U, B = I
        rows, cols = np.nonzero(fg)
        pick = rng.choice(len(rows), size=min(points, len(rows)), replace=False)
        r, c = rows[pick], cols[pick]
        dense = DensePoints(xy=np.stack([c, r], 1).astype(np.float32), part=part[r, c],
                            uv=np.stack([iuv[r, c, 1], iuv[r, c, 2]], 1).astype(np.float32) / 255.0)
        bbox = np.array([cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1],
                        np.float32)
        keypoints = np.concatenate([kp[i].numpy(), np.full((17, 1), 2.0)], 1)
        image_id = project.add_image(image_file, SIZE, SIZE, iuv_file=iuv_file)
        pid = project.add_person(image_id, bbox=bbox, keypoints=keypoints, dense=dense, source_key=f"synthetic-{i}")
        project.set_correspondences(pid, key, *map_to_vertices(template, dense.part, dense.uv))
        centre, half = square_box(bbox)
        project.set_ground_truth(pid, {
            "pose": pose[i].numpy(), "scales": scales[i].numpy(), "rotation": rotation[i].numpy(),
            "scale": np.asarray(cam_scale[i].item() / half, np.float32),
            "translation": ((translation[i].numpy() - centre) / half).astype(np.float32)})
    return project
