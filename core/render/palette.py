"""The one colour table for DensePose parts and the one scalar ramp, used by every picture the tool makes:
`deformlearn draw`, the app's image overlays and 3D viewport, `template --render` and synthetic images.

Colours are RGB uint8; OpenCV callers reverse the last axis (`PART_COLOURS[:, ::-1]`).
"""

from __future__ import annotations

import colorsys

import numpy as np

from deformlearn.core.body.skeletons import NUM_PARTS


def _part_palette() -> np.ndarray:
    """(25, 3) uint8 RGB: background black, then 24 hues 7/24 of a turn apart, so parts next to each other in
    DensePose's numbering (usually neighbours on the body too) differ in hue, and in lightness by parity."""
    out = np.zeros((NUM_PARTS + 1, 3), np.uint8)
    for part in range(1, NUM_PARTS + 1):
        hue = ((part - 1) * 7 % NUM_PARTS) / NUM_PARTS
        light = 0.5 if part % 2 else 0.62
        out[part] = np.round(np.array(colorsys.hls_to_rgb(hue, light, 0.85)) * 255)
    return out


#: (25, 3) uint8 RGB colour of each DensePose part 0..24 (0 = background, black).
PART_COLOURS: np.ndarray = _part_palette()
PART_COLOURS.setflags(write=False)

#: Stops of `ramp`, low to high: blue, teal, yellow, red (RGB).
_RAMP_STOPS = np.array([[48, 18, 180], [30, 170, 160], [250, 220, 40], [220, 40, 30]], np.float64)


def ramp(values: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """(N,) scalars -> (N, 3) uint8 RGB on a blue-teal-yellow-red ramp; NaN -> grey.

    vmin, vmax: the values mapped to the two ends (default: the finite minimum and maximum).
    """
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    lo = float(np.min(values[finite])) if vmin is None and finite.any() else (vmin or 0.0)
    hi = float(np.max(values[finite])) if vmax is None and finite.any() else (vmax if vmax is not None else 1.0)
    t = np.clip(np.nan_to_num((values - lo) / max(hi - lo, 1e-12)), 0.0, 1.0)
    pos = t * (len(_RAMP_STOPS) - 1)
    i = np.minimum(pos.astype(int), len(_RAMP_STOPS) - 2)
    frac = (pos - i)[:, None]
    out = _RAMP_STOPS[i] * (1 - frac) + _RAMP_STOPS[i + 1] * frac
    out[~finite] = 128
    return np.round(out).astype(np.uint8)
