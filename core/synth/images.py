"""Pixels of synthetic images: backgrounds, occluders, compositing several people, and a numpy shaded
atlas render used when no OpenGL context is available.

Arrays are (H, W, C) in image rows and columns; colours are RGB uint8; depths grow away from the camera.
"""

from __future__ import annotations

import cv2
import numpy as np


def background(rng: np.random.Generator, width: int, height: int, kind: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB background: "plain" (one random muted colour) or "noise" (smooth random colour
    blobs with a little fine grain, like an out-of-focus scene)."""
    if kind == "plain":
        return np.broadcast_to(rng.integers(40, 220, 3).astype(np.uint8), (height, width, 3)).copy()
    if kind != "noise":
        raise ValueError(f"background {kind!r}: expected 'plain' or 'noise'")
    grey = rng.uniform(60, 200)
    coarse = (grey + rng.uniform(0.2, 0.6) * rng.uniform(-90, 90, (4, 4, 3))).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    detail = cv2.resize(rng.normal(0, 18, (16, 16, 3)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_LINEAR)
    image = image + detail + rng.normal(0, 4, (height, width, 3)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def occluder_patch(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8 RGB texture of an occluding object: a random colour with stripes and grain."""
    base = rng.uniform(20, 235, 3)
    period = rng.uniform(4, 16)
    stripes = 0.5 + 0.5 * np.sin(np.arange(width)[None, :] * 2 * np.pi / period + rng.uniform(0, 2 * np.pi))
    shade = 0.75 + 0.25 * stripes[..., None]
    patch = base * shade + rng.normal(0, 6, (height, width, 3))
    return np.clip(patch, 0, 255).astype(np.uint8)


def composite(depths: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Front-most person per pixel. depths: K (H, W) depth maps (inf = not covered).

    Returns inds (H, W) uint8, 1..K for the nearest person and 0 for the background, and the (H, W)
    float32 depth of the nearest surface (inf on the background)."""
    stack = np.stack(depths)
    nearest = np.argmin(stack, axis=0)
    depth = np.take_along_axis(stack, nearest[None], 0)[0]
    inds = np.where(np.isfinite(depth), nearest + 1, 0).astype(np.uint8)
    return inds, depth.astype(np.float32)


def atlas_lookup(iuv: np.ndarray, atlas: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 atlas texel at each pixel's (I, U, V); iuv: (H, W, 3) uint8 [I, U*255, V*255], black
    where I = 0. Atlas layout as in core.render.offscreen (tile row r, column c holds part 6c + r + 1)."""
    tile = atlas.shape[0] // 6
    part = iuv[..., 0].astype(np.int64)
    fg = part > 0
    p = np.maximum(part - 1, 0)
    u, v = iuv[..., 1] / 255.0, iuv[..., 2] / 255.0
    rows = (p % 6) * tile + np.rint((1 - v) * (tile - 1)).astype(np.int64)
    cols = (p // 6) * tile + np.rint(u * (tile - 1)).astype(np.int64)
    out = atlas[rows, cols]
    out[~fg] = 0
    return out


def shade_from_depth(colour: np.ndarray, depth: np.ndarray, light: tuple[float, float, float] = (0.4, 0.5, 1.0),
                     ambient: float = 0.45) -> np.ndarray:
    """(H, W, 3) uint8 colour lit by a directional light, with normals from the depth map's gradient.

    depth: (H, W) in pixel units (inf on the background); light: the direction the light travels in the
    image frame (x right, y down, z away from the viewer); the default matches core.render.offscreen's light."""
    finite = np.isfinite(depth)
    z = np.where(finite, depth, 0).astype(np.float32)
    z = cv2.GaussianBlur(z, (3, 3), 0)
    dzdx = cv2.Sobel(z, cv2.CV_32F, 1, 0, ksize=3) / 8
    dzdy = cv2.Sobel(z, cv2.CV_32F, 0, 1, ksize=3) / 8
    ok = finite & (np.abs(dzdx) < 8) & (np.abs(dzdy) < 8)  # silhouette steps are not surface slopes
    normal = np.stack([np.where(ok, dzdx, 0), np.where(ok, dzdy, 0), -np.ones_like(z)], -1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    direction = -np.asarray(light, dtype=np.float32)
    lambert = np.clip(normal @ (direction / np.linalg.norm(direction)), 0, 1)
    lit = colour.astype(np.float32) * (ambient + (1 - ambient) * lambert)[..., None]
    return np.clip(lit, 0, 255).astype(np.uint8)


__all__ = ["atlas_lookup", "background", "composite", "occluder_patch", "shade_from_depth"]
