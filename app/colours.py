"""Colour tables shared by the image overlays and the 3D viewport."""

from __future__ import annotations

import colorsys

import numpy as np


def _part_palette() -> np.ndarray:
    """(25, 3) uint8: background black, then 24 distinct hues with alternating lightness for neighbours."""
    out = np.zeros((25, 3), np.uint8)
    for part in range(1, 25):
        hue = ((part - 1) * 7 % 24) / 24.0
        light = 0.5 if part % 2 else 0.62
        out[part] = np.round(np.array(colorsys.hls_to_rgb(hue, light, 0.85)) * 255)
    return out


#: (25, 3) uint8 colour of each DensePose part 0..24 (0 = background).
PART_COLOURS: np.ndarray = _part_palette()


def ramp(values: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """(N,) scalars -> (N, 3) uint8 on a blue-green-yellow-red ramp (NaN -> grey)."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    lo = float(np.min(values[finite])) if vmin is None and finite.any() else (vmin or 0.0)
    hi = float(np.max(values[finite])) if vmax is None and finite.any() else (vmax if vmax is not None else 1.0)
    t = np.clip(np.nan_to_num((values - lo) / max(hi - lo, 1e-12)), 0.0, 1.0)
    stops = np.array([[48, 18, 180], [30, 170, 160], [250, 220, 40], [220, 40, 30]], np.float64)
    pos = t * (len(stops) - 1)
    i = np.minimum(pos.astype(int), len(stops) - 2)
    frac = (pos - i)[:, None]
    out = stops[i] * (1 - frac) + stops[i + 1] * frac
    out[~finite] = 128
    return np.round(out).astype(np.uint8)
