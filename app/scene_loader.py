"""Builds `PersonScene`s from the project store and poses fits with the body model.

Frames (see core/body/camera.py and core/registration/data.py): a fit's params map body-frame vertices X to the
person's normalised frame q = s * (R X)[:2] + t, and q to image pixels p = q * half_side + centre of the
square box about the bbox. The 3D viewport shows the "viewer frame" W = F^T R X (F = diag(1, -1, -1):
y up, the image camera on +z), the same frame the registration's progress events use, so a live fit and a
stored one look the same.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import torch

from deformlearn.app.person_scene import PersonScene
from deformlearn.app.thumbnails import LRU
from deformlearn.core.body import FRONTAL_ROTATION_VALUES, BodyModel, Template
from deformlearn.core.densepose import template_key
from deformlearn.core.registration import pixels_to_normalised, square_box
from deformlearn.core.render import camera_to_image

FRONTAL = np.array(FRONTAL_ROTATION_VALUES)


def read_image_rgb(path: str | None) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB, or None when there is no readable file."""
    if not path or not Path(path).is_file():
        return None
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_iuv(path: str | None) -> np.ndarray | None:
    """(H, W, 3) uint8 [I, U*255, V*255] from a DensePose IUV png (OpenCV's BGR order is already I, U, V)."""
    if not path or not Path(path).is_file():
        return None
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def viewer_to_image(vertices_viewer: np.ndarray, scale: float, translation: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """(V, 3) viewer frame -> (V, 3) image pixels x, y and depth away from the camera (pixels)."""
    return camera_to_image(vertices_viewer @ FRONTAL, scale, translation, bbox)  # R X = F W


def _params_to_image(vertices_viewer: np.ndarray, params: dict[str, np.ndarray], bbox: np.ndarray) -> np.ndarray:
    """`viewer_to_image` with a fit's camera scale and translation (`params`)."""
    return viewer_to_image(vertices_viewer, float(np.asarray(params["scale"])),
                           np.asarray(params["translation"], np.float64), bbox)


def align_to_points(vertices_viewer: np.ndarray, scene: PersonScene, keypoint_weights: np.ndarray | None) -> np.ndarray:
    """(V, 3) viewer-frame mesh of an unfinished fit -> (V, 3) image pixels, placed by least squares.

    Progress events carry the current shape and rotation but not the camera scale and translation, so the
    live overlay places the mesh with the (s, t) that best fits the person's corresponded points and visible
    keypoints (a 3-unknown linear least-squares problem, which the fitter itself nearly solves each step).
    """
    cam = vertices_viewer @ FRONTAL
    centre, half = square_box(scene.bbox)
    src, dst = [], []
    ok = (scene.dense_vertex >= 0) & (scene.dense_vertex < len(cam))
    if ok.any():
        src.append(cam[scene.dense_vertex[ok], :2])
        dst.append(pixels_to_normalised(scene.dense_xy[ok], centre, half))
    vis = scene.keypoints[:, 2] > 0
    if keypoint_weights is not None and vis.any():
        src.append((keypoint_weights @ cam)[vis, :2])
        dst.append(pixels_to_normalised(scene.keypoints[vis, :2], centre, half))
    if not src:
        return viewer_to_image(vertices_viewer, 1.0, np.zeros(2), scene.bbox)
    a, b = np.concatenate(src), np.concatenate(dst)
    # [x 1 0; y 0 1] [s tx ty]^T = [qx; qy]
    A = np.zeros((2 * len(a), 3))
    A[0::2, 0], A[0::2, 1] = a[:, 0], 1.0
    A[1::2, 0], A[1::2, 2] = a[:, 1], 1.0
    sol, *_ = np.linalg.lstsq(A, b.reshape(-1), rcond=None)
    return viewer_to_image(vertices_viewer, float(sol[0]), sol[1:], scene.bbox)


class SceneLoader:
    """Reads people from one project (on the GUI thread) and poses their latest fits; caches recent images."""

    def __init__(self, project, template: Template) -> None:
        self.project = project
        self.template = template
        self.template_key = template_key(template)
        self.body = BodyModel(template).eval()
        self._images: OrderedDict[str, np.ndarray | None] = OrderedDict()
        self._fits = LRU(32)  # (fit id, bbox) -> (V, 3) the fit projected into its image

    def _image(self, path: str | None, reader) -> np.ndarray | None:
        key = f"{reader.__name__}:{path}"
        if key not in self._images:
            self._images[key] = reader(path)
            while len(self._images) > 16:
                self._images.popitem(last=False)
        self._images.move_to_end(key)
        return self._images[key]

    def load(self, pid: int) -> PersonScene:
        rec = self.project.person(pid)
        dense = rec.dense
        n = 0 if dense is None else len(dense)
        corr = self.project.correspondences(pid, self.template_key) if n else None
        vertex = corr[0] if corr is not None and len(corr[0]) == n else np.full(n, -1, np.int64)
        scene = PersonScene(
            pid=rec.id, name=rec.name or Path(rec.image_file).name, status=rec.status,
            image=self._image(rec.image_file, read_image_rgb), iuv=self._image(rec.iuv_file, read_iuv),
            bbox=np.asarray(rec.bbox, np.float64), keypoints=np.array(rec.keypoints, np.float64),
            dense_xy=np.zeros((0, 2)) if dense is None else np.array(dense.xy, np.float64),
            dense_part=np.zeros(0, np.int64) if dense is None else np.array(dense.part),
            dense_uv=np.zeros((0, 2)) if dense is None else np.array(dense.uv, np.float64),
            dense_vertex=np.asarray(vertex, np.int64),
        )
        fit = self.project.current_fit(pid)  # the fit the review decision and the list refer to
        if fit is not None and fit.status != "failed":
            self.apply_fit(scene, fit.params)
            scene.metrics = dict(fit.metrics)
        return scene

    def pose(self, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fit params -> (vertices (V, 3), joints (24, 3)) in the viewer frame, and R X (V, 3) camera frame."""
        pose = torch.as_tensor(np.asarray(params["pose"], np.float32).reshape(1, 23, 3))
        scales = torch.as_tensor(np.asarray(params["scales"], np.float32).reshape(1, 24))
        with torch.no_grad():
            out = self.body(pose, scales)
        rot = np.asarray(params["rotation"], np.float64).reshape(3, 3)
        cam_v = out.vertices[0].numpy().astype(np.float64) @ rot.T
        cam_j = out.joints[0].numpy().astype(np.float64) @ rot.T
        return cam_v @ FRONTAL, cam_j @ FRONTAL, cam_v

    def apply_fit(self, scene: PersonScene, params: dict[str, np.ndarray]) -> None:
        """Fill the scene's fit fields (both frames) and per-vertex residuals from fit parameters."""
        verts, joints, _ = self.pose(params)
        scene.fit_vertices_body, scene.fit_joints_body = verts, joints
        scene.fit_vertices_image = _params_to_image(verts, params, scene.bbox)
        scene.compute_vertex_residual()

    def fit_on_image(self, pid: int, bbox: np.ndarray) -> np.ndarray | None:
        """(V, 3) person `pid`'s current fit projected into its image (x, y pixels, z away from the camera),
        or None when it has no usable fit; bbox (4,) the person's box in pixels. Cached per fit, so other
        people's fits drawn beside the current one are posed once."""
        fit = self.project.current_fit(pid)
        if fit is None or fit.status == "failed":
            return None
        key = (fit.id, tuple(np.asarray(bbox, np.float64).tolist()))
        if key not in self._fits:
            return self._fits.put(key, _params_to_image(self.pose(fit.params)[0], fit.params, bbox))
        self._fits.move_to_end(key)
        return self._fits[key]

    def rest_viewer(self) -> tuple[np.ndarray, np.ndarray]:
        """The template's rest mesh and joints in the viewer frame of a frontal camera (= body frame)."""
        return self.template.rest_vertices.astype(np.float64), self.template.rest_joints.astype(np.float64)
