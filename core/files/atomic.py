"""Crash-safe file writes: a reader sees the old file or the whole new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# The process umask, read once: written files get the usual 0o666 & ~umask (mkstemp makes them 0o600).
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None] | bytes) -> Path:
    """Write `path` through a temporary file in the same folder: write, flush, fsync, os.replace.

    `write` is the bytes to write or a callable that writes into the open binary file. If it raises (or the
    process is interrupted), the temporary file is removed and `path` is left as it was. Parent folders are
    created. Returns `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(write, (bytes, bytearray, memoryview)):
                f.write(write)
            else:
                write(f)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
