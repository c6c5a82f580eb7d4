"""Colour tables of the image overlays and the 3D viewport: core's one palette and ramp (core/render/palette.py)."""

from deformlearn.core.render import PART_COLOURS, ramp

__all__ = ["PART_COLOURS", "ramp"]
