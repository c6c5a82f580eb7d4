"""One lock file per project for long jobs (round, register, import): who holds it, since when.

`project.lock` holds one JSON object {"pid", "host", "job", "started_at", "boot_id", "start_ticks"}. It is
created with O_EXCL, so of two jobs started together exactly one gets it; the other gets ProjectBusy naming
the holder. A lock of this host is stale, and taken over, when the machine booted since, or its PID is not
alive or now belongs to another process (a reused PID: its start in ticks since boot differs from the one
the lock recorded; no wall clock is compared). A lock of another host is never taken over: this machine
cannot see that host's processes; the message names host, PID, job and start time and says to delete the
lock file if that machine is gone. Taking the lock also removes the temp files that killed writers left in
the project (see core.files.atomic.remove_stale_temps).
"""

from __future__ import annotations

import json
import os
import secrets
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
    """The holder of the project's lock (the module docstring's fields), or None when it is free."""
    try:
        return json.loads((Path(root) / LOCK_NAME).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable or half-written: treated as held by an unknown process


def _boot_id() -> str | None:
    """This boot of the machine (Linux's random boot id), or None where that is unknown."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (/proc/PID/stat field 22), or None where unknown.
    With the boot id this names one process exactly, whatever the wall clock does."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _stale(holder: dict, path: Path) -> bool:
    """True for a lock this host may take over: unfinished and a minute old, or of this host with its holder
    gone: the machine booted since, the PID is not alive, or it now belongs to another process (its start
    differs from the one the lock recorded). Locks of older versions carry no boot id or start: PID only."""
    if not holder:  # a lock file its writer never finished: stale once it is a minute old
        return time.time() - path.stat().st_mtime > 60
    if holder.get("host") != socket.gethostname():
        return False
    boot = _boot_id()
    if holder.get("boot_id") and boot and holder["boot_id"] != boot:
        return True
    pid = int(holder.get("pid", -1))
    if not _alive(pid):
        return True
    ticks = _start_ticks(pid)
    return holder.get("start_ticks") is not None and ticks is not None and ticks != holder["start_ticks"]


def _describe(holder: dict) -> str:
    if not holder:
        return "an unknown process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started_at", 0)))
    return f"a {holder.get('job', 'job')} (PID {holder.get('pid')} on {holder.get('host')}, started {started})"


def _busy(root: Path, path: Path, holder: dict) -> ProjectBusy:
    """The refusal for a live lock, saying how to clear one whose holder cannot be checked from here."""
    host = holder.get("host")
    if host and host != socket.gethostname():
        return ProjectBusy(f"{root}: {_describe(holder)} holds this project; it runs on another machine, which "
                           f"this one cannot check: wait for it to end, or, if {host} is gone or that job is no "
                           f"longer running there, delete {path}")
    return ProjectBusy(f"{root}: {_describe(holder)} is running on this project; wait for it to end or stop it "
                       f"(the lock is {path}; delete it only if that process is not this job)")


def _take_over(path: Path, stale: dict) -> None:
    """Remove the lock file `path` if it still holds `stale`. It is renamed aside first (under a temp-file
    name the sweep removes), so that a lock another job wrote meanwhile, after taking over the same stale
    one, is put back rather than deleted (two jobs would then run)."""
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return  # freed or taken over meanwhile
    try:
        moved = json.loads(aside.read_text())
    except (OSError, ValueError):
        moved = {}
    if moved != stale:
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # yet another job's lock is there: it holds the project
    aside.unlink(missing_ok=True)


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
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "job": job, "started_at": time.time(),
            "boot_id": _boot_id(), "start_ticks": _start_ticks(os.getpid())}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = read_lock(root)
            if holder is None:
                continue  # freed meanwhile
            if not _stale(holder, path):
                raise _busy(root, path, holder) from None
            _take_over(path, holder)  # its process is gone
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
