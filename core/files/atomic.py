"""Crash-safe file writes: a reader sees the old file or the whole new one, never half of one."""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# The process umask, read once: written files get the usual 0o666 & ~umask (mkstemp makes them 0o600).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
#: A temp file's name: ".<target>.<writer pid>.<mkstemp's 8 characters>.tmp"; older versions left out the pid.
_TEMP_NAME = re.compile(r"^\..+?(?:\.(?P<pid>\d+))?\.[A-Za-z0-9_]{8}\.tmp$")
#: A temp file without a pid in its name is a leftover once it is this old (seconds).
_UNNAMED_TEMP_AGE = 3600.0
#: A write that failed with this little space left on its disk failed for want of space (bytes).
_FULL_BYTES = 64 * 1024
_swept: set[str] = set()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove the temp files that killed writers left in `folder` (their pid is gone, or they carry none and
    are over an hour old); return what was removed. Runs once per folder and process from atomic_write."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        pid = match.group("pid")
        try:
            stale = (not _pid_alive(int(pid))) if pid else time.time() - entry.stat().st_mtime > _UNNAMED_TEMP_AGE
            if stale and (pid is None or int(pid) != os.getpid()):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    _swept.add(str(folder))
    return removed


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None] | bytes) -> Path:
    """Write `path` through a temporary file in the same folder: write, flush, fsync, os.replace.

    `write` is the bytes to write or a callable that writes into the open binary file. If it raises (or the
    process is interrupted), the temporary file is removed and `path` is left as it was. Parent folders are
    created; the first write of a process into a folder removes the temp files killed writers left there.
    Returns `path`. An OSError (no space, no permission, a read-only disk) names `path`, never the temp file.
    """
    path = Path(path)
    try:
        return _write_through_temp(path, write)
    except OSError as exc:
        if exc.errno is None:
            raise  # not a system call's (io.UnsupportedOperation from a writer, say): its own class and text
        if exc.filename not in (None, str(path)) and not str(exc.filename).endswith(".tmp"):
            raise  # about another file (a parent folder that is a file, say): keep its name
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc  # the errno's subclass


def _write_through_temp(path: Path, write: Callable[[BinaryIO], None] | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path.parent) not in _swept:
        remove_stale_temps(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
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
    except BaseException as exc:
        # a writer that hides the disk's ENOSPC behind its own error (torch.save: "unexpected pos"); looked at
        # before the temp file goes, while the disk is still as full as the write left it
        hidden_full = isinstance(exc, Exception) and not isinstance(exc, OSError) and _disk_full(path.parent)
        if os.path.exists(tmp):
            os.unlink(tmp)
        if hidden_full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise
    return path


def _disk_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < _FULL_BYTES
    except OSError:
        return False
