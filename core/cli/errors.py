"""Ordinary faults as one line for the user: what went wrong, with which file or device, and what to do."""

from __future__ import annotations

import errno
import os
import sqlite3
import sys


def _input_files(args) -> list[str]:
    """The existing files the command's arguments name (to say which input was at fault)."""
    values = [v for v in vars(args).values() if isinstance(v, str)]
    return [v for v in values if os.path.isfile(v)]


def describe_error(exc: BaseException, args) -> str | None:
    """One line for an ordinary fault (disk full, no permission, read-only file system, a file nested too
    deeply to read, a full or unopenable database); None for an exception that is a bug."""
    if isinstance(exc, OSError) and exc.errno is not None:
        where = exc.filename or "a file"
        if exc.errno == errno.ENOSPC:
            return (f"{where}: no space left on the device; free some space and run again (what was already "
                    "committed is kept)")
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"{where}: permission denied; choose a place you may write to, or change its permissions"
        if exc.errno == errno.EROFS:
            return f"{where}: the file system is read-only; write somewhere else (e.g. --out on a writable disk)"
        return f"{where}: {exc.strerror or exc}"
    if isinstance(exc, sqlite3.OperationalError):
        project = getattr(args, "project", None) or "the project"
        if "full" in str(exc):
            return f"{project}: no space left for the project database; free some space and run again"
        return f"{project}: the project database failed ({exc})"
    if isinstance(exc, RecursionError):
        files = ", ".join(_input_files(args)) or "the input"
        return f"{files}: nested too deeply to read (deeper than Python's recursion limit); not an annotation file"
    return None


def silence_broken_pipe() -> None:
    """The reader of our stdout went away (`deformlearn info | head`): drop the rest of the output quietly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
