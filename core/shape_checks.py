"""The one shape check for arrays crossing a function boundary (torch tensors and numpy arrays alike).

`check_shape(points, ("B", "N", 3), "points")` raises ValueError("points: expected shape (B, N, 3), got
(2, 5, 2)") instead of a bare assert that `python -O` strips. A spec entry is an int (that size), a letter
(any size, but the same letter means the same size: pass the returned `sizes` to the next call to tie two
arrays together), or None (any size). A leading "..." allows any number of leading dimensions (for
functions over trailing axes, like rotations). Shape letters follow STYLE.md: B batch, V vertices, F faces,
J joints, K keypoints, N points, H W image height and width, C channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ShapeSpec = Sequence[int | str | None]


def _spec_text(spec: ShapeSpec, sizes: dict[str, int]) -> str:
    parts = []
    for s in spec:
        if s is None:
            parts.append("*")
        elif isinstance(s, str) and s in sizes and s != "...":
            parts.append(f"{s}={sizes[s]}")
        else:
            parts.append(str(s))
    return "(" + ", ".join(parts) + ")"


def check_shape(x: Any, spec: ShapeSpec, name: str, sizes: dict[str, int] | None = None) -> dict[str, int]:
    """Check that `x` (anything with a `.shape`: torch.Tensor, np.ndarray) has the shape `spec`.

    sizes: letters already bound by an earlier call (e.g. {"B": 4}); not changed. Returns the sizes with this
    call's letters added. Raises TypeError when `x` has no shape, ValueError naming `name`, the expected and
    the actual shape otherwise.
    """
    if not hasattr(x, "shape"):
        raise TypeError(f"{name}: expected an array or tensor, got {type(x).__name__}")
    bound = dict(sizes or {})
    shape = tuple(int(d) for d in x.shape)
    any_leading = bool(spec) and spec[0] == "..."
    trailing = list(spec[1:]) if any_leading else list(spec)
    ok = len(shape) >= len(trailing) if any_leading else len(shape) == len(trailing)
    if ok:
        for want, got in zip(trailing, shape[len(shape) - len(trailing):]):
            if isinstance(want, str):
                if bound.setdefault(want, got) != got:
                    ok = False
            elif want is not None and want != got:
                ok = False
    if not ok:
        raise ValueError(f"{name}: expected shape {_spec_text(spec, sizes or {})}, got {shape}")
    return bound
