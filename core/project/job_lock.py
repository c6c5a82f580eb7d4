"""One lock file per project for long jobs (round, register, import): who holds it, since when.

`project.lock` holds one JSON object {"pid", "host", "job", "started_at"}. It is created with O_EXCL, so of
two jobs started together exactly one gets it; the other gets ProjectBusy naming the holder. A lock whose
process is gone (same host, PID not alive) is stale and taken over. Taking the lock also removes the temp
files that killed writers left in the project (see core.files.atomic.remove_stale_temps).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deformlearn.core.files.atomic import remove_stale_temps
from deformlearn.core.project.records import ProjectBusy, ProjectError

LOCK_NAME = "project.lock"
#: Folders of a project whose files are written atomically (temp files of killed writers are swept there).
_WRITTEN_DIRS = ("", "arrays", "models", "images")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def read_lock(root: str | Path) -> dict | None:
    """The holder of the project's lock ({"pid", "host", "job", "started_at"}), or None when it is free."""
    try:
        return json.loads((Path(root) / LOCK_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable or half-written: treated as held by an unknown process


def _stale(holder: dict, path: Path) -> bool:
    if not holder:  # a lock file its writer never finished: stale once it is a minute old
        return time.time() - path.stat().st_mtime > 60
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid", -1)))


def _describe(holder: dict) -> str:
    if not holder:
        return "an unknown process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started_at", 0)))
    return f"a {holder.get('job', 'job')} (PID {holder.get('pid')} on {holder.get('host')}, started {started})"


def _sweep_temps(root: Path) -> None:
    for sub in _WRITTEN_DIRS:
        folder = root / sub
        if folder.is_dir():
            for dirpath, _, _ in os.walk(folder):
                remove_stale_temps(Path(dirpath))


@contextmanager
def project_job(root: str | Path, job: str) -> Iterator[dict]:
    """Hold the project's job lock while the block runs; ProjectBusy naming the holder when another live job
    holds it. Yields what was written into the lock file."""
    root = Path(root).absolute()
    path = root / LOCK_NAME
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "job": job, "started_at": time.time()}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = read_lock(root)
            if holder is None:
                continue  # freed meanwhile
            if not _stale(holder, path):
                raise ProjectBusy(f"{root}: {_describe(holder)} is running on this project; wait for it to end "
                                  f"or stop it (the lock is {path})") from None
            path.unlink(missing_ok=True)  # its process is gone: take it over
            continue
        except PermissionError as exc:
            raise ProjectError(f"{root}: cannot write the project's lock file ({exc.strerror}); this command "
                               f"writes to the project: make the folder writable or work on a copy") from None
        with os.fdopen(fd, "w") as f:
            json.dump(mine, f)
        break
    else:
        raise ProjectBusy(f"{root}: could not take the project's lock {path}; try again")
    try:
        _sweep_temps(root)
        yield mine
    finally:
        if read_lock(root) == mine:
            path.unlink(missing_ok=True)
