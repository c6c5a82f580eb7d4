"""Reading torch files safely: weights only (never code from the file), with one clear error per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_torch_file(path: str | Path, what: str, map_location: str | torch.device = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`; a missing file raises FileNotFoundError and an unreadable one
    (truncated, not a torch file, holding objects other than tensors and plain containers) raises ValueError,
    each naming `path` and `what` the file should be ("lifter", "regressor checkpoint", ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling, zip and EOF errors all mean an unreadable file
        raise ValueError(f"{path}: not a readable {what} file ({exc})") from exc
