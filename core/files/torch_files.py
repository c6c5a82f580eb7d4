"""Reading torch files safely: weights only (never code from the file), with one clear error per problem."""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch


def _unsafe_globals(path: Path, exc: BaseException) -> list[str]:
    """The Python objects (module.name) a torch file names beyond tensors and plain containers, read from its
    pickle opcodes without loading it (torch's own scan of zip files), else the one `exc` names."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # a legacy (non-zip) file: the scan cannot read it
        found = re.search(r"Unsupported global: GLOBAL (\S+) was not", str(exc))
        return [found.group(1)] if found else []


def _reason(exc: BaseException, damaged: bool) -> str:
    """" (why)" for a message: the first sentence of the exception's text (torch's long notes after it are never
    shown), none when that is torch's weights-only preamble, led by "truncated or not a torch file" when the
    error says the file is damaged."""
    first = str(exc).strip().split("\n")[0].split(". ")[0].rstrip(".")
    parts = ["truncated or not a torch file"] * damaged + [first] * ("weights" not in first.lower() and bool(first))
    return f" ({': '.join(parts)})" if parts else ""


def load_torch_file(path: str | Path, what: str, map_location: str | torch.device = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`. Errors, each one line naming `path` and `what` the file should
    be ("lifter", "regressor checkpoint", ...): a missing file raises FileNotFoundError; a file holding Python
    objects other than tensors and plain containers raises ValueError naming them (they are never loaded:
    loading them could run code); a truncated or non-torch file raises ValueError. No command offers to load
    such objects, so no message advises it (torch's own text, which does, is never passed on)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} file not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling, zip, EOF and storage errors
        names = _unsafe_globals(path, exc) if isinstance(exc, pickle.UnpicklingError) else []
        if names:
            objects = f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''}"
            raise ValueError(f"{path}: not a plain {what} file: it holds Python objects ({objects}) besides tensors "
                             "and plain containers; they are never loaded, as loading them could run code") from None
        damaged = isinstance(exc, (EOFError, pickle.UnpicklingError)) or any(
            s in str(exc) for s in ("zip archive", "magic number", "central directory"))
        raise ValueError(f"{path}: not a readable {what} file{_reason(exc, damaged)}") from None
