"""The on-disk project the app, the command line and the workers share.

A project is a folder holding `project.sqlite` (WAL journal, foreign keys on, schema in schema.py) and
`arrays/` for bulk array files. Every write runs in a short transaction (`with project.transaction():`
groups several into one), so a process killed at any moment leaves the last committed state. Readers never
block the one writer (WAL). A writer that finds the database locked by another process waits, says so
through `on_busy`, and retries: computed work is never thrown away. Opening reads only the schema version and
the meta table: nothing per person. A read-only folder opens read-only (immutable, which can read stale
data, only when SQLite cannot make its shared-memory file there: `_connect_and_read_version`).

What the project holds is split by topic: people.py (images, people, annotations, the list),
fit_history.py (fits, current fit, reviews), round_records.py (rounds, arrays); `Project` joins them.
One `Project` object belongs to one thread; open another for another thread or process.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from deformlearn.core.project import schema as project_schema
from deformlearn.core.project.fit_history import FitHistoryMixin
from deformlearn.core.project.people import ORDER_COLUMNS, PeopleMixin
from deformlearn.core.project.records import (
    FitRecord,
    PersonRecord,
    PersonRow,
    ProjectBusy,
    ProjectError,
    ReviewRecord,
    RoundRecord,
)
from deformlearn.core.project.round_records import ARRAYS_DIR, RoundRecordsMixin
from deformlearn.core.project.templates import load_project_template, template_from_spec

DB_NAME = "project.sqlite"
#: SQLite waits this long for a lock before `transaction` reports the wait and tries again (seconds).
BUSY_TIMEOUT_S = 5.0


def _stderr_note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


#: Below this much free space a failure to open for writing is reported as a full disk (bytes).
_LOW_SPACE_BYTES = 1 << 20


def _cannot_write(root: Path, exc: sqlite3.Error) -> ProjectError:
    """Why the project at `root` cannot be opened for writing, in one line: SQLite says "disk I/O error" when
    a full disk leaves no room for the -wal and -shm files, so free space is looked at to say so."""
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        free = None
    if "full" in str(exc) or (free is not None and free < _LOW_SPACE_BYTES):
        return ProjectError(f"{root}: no space left on the device to open the project for writing "
                            f"({'?' if free is None else free // 1024} KiB free); free some space and run again "
                            "(nothing was changed)")
    return ProjectError(f"{root}: cannot open the project for writing ({exc}); this command writes to it: make "
                        "the folder writable or work on a copy")


@contextmanager
def _closed_on_error(conn: sqlite3.Connection, root: Path, writing: bool) -> Iterator[None]:
    """Close `conn` when the block fails (a Project that is never made never closes it). SQLite's errors other
    than a busy database become a ProjectError naming the project: a write the disk refuses as
    `_cannot_write` says, anything else as a database that cannot be read."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
            raise
        if writing and isinstance(exc, sqlite3.OperationalError) and any(
                word in str(exc) for word in ("disk", "full", "readonly")):
            raise _cannot_write(root, exc) from exc
        raise ProjectError(f"{root / DB_NAME}: not a readable project database ({exc})") from exc
    except BaseException:
        conn.close()
        raise


class Project(PeopleMixin, FitHistoryMixin, RoundRecordsMixin):
    """A project folder. Create with `Project.create`, open with `Project.open`; use as a context manager.

    on_busy: called with a one-line message each time a write waits for another process (default: stderr);
    max_busy_wait_s: give up with ProjectBusy after this long (None: wait as long as it takes).
    """

    def __init__(self, root: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self._root = root
        self._conn = conn
        self._readonly = readonly
        self._depth = 0
        self._template = None
        self._meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        self.on_busy: Callable[[str], None] = _stderr_note
        self.max_busy_wait_s: float | None = None

    # -- opening -------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, template: str = "builtin") -> Project:
        """Make a new project folder (or fill an empty/non-project folder) and open it for writing.

        The template ("builtin" or a template .npz, relative to the folder or absolute) is loaded and checked
        first: a bad one raises TemplateError and leaves nothing behind."""
        root = Path(path).absolute()
        if (root / DB_NAME).exists():
            raise ProjectError(f"{root}: already a project")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a folder")
        template_from_spec(template, root)
        (root / ARRAYS_DIR).mkdir(parents=True, exist_ok=True)
        try:
            conn = cls._connect(root / DB_NAME, readonly=False)
        except sqlite3.OperationalError as exc:
            raise _cannot_write(root, exc) from exc
        with _closed_on_error(conn, root, writing=True):
            project_schema.migrate(conn)
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("template", template), ("created_at", repr(time.time())), ("format", "deformlearn-project")],
            )
            conn.execute("COMMIT")
            return cls(root, conn, readonly=False)

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False) -> Project:
        """Open an existing project; ProjectError naming the path when it is not one, is too new, or cannot
        be opened for writing (a read-only folder: the message says a write is needed). A writable open
        migrates an older schema; a read-only one reads schemas from READABLE_FROM on as they are and
        refuses older ones (their migration must write)."""
        root = Path(path).absolute()
        db = root / DB_NAME
        if not db.is_file():
            raise ProjectError(f"{root}: not a deformlearn project (no {DB_NAME})")
        if not readonly and not (os.access(db, os.W_OK) and os.access(root, os.W_OK)):
            raise ProjectError(f"{root}: the project is read-only here; this command writes to it: make the "
                               "folder writable or work on a copy (info, export and draw only read)")
        conn, version = cls._connect_and_read_version(root, db, readonly)
        with _closed_on_error(conn, root, writing=not readonly):
            if version > project_schema.SCHEMA_VERSION:
                raise ProjectError(
                    f"{root}: project schema version {version} is newer than this program's "
                    f"({project_schema.SCHEMA_VERSION}); update deformlearn"
                )
            if version < project_schema.SCHEMA_VERSION:
                if not readonly:
                    project_schema.migrate(conn)
                elif version >= project_schema.READABLE_FROM:
                    _stderr_note(f"{root}: project schema {version} read as it is (this program writes "
                                 f"{project_schema.SCHEMA_VERSION}): people fitted to keypoints alone show a "
                                 "0 px dense error until the project is opened once by a command that writes")
                else:
                    raise ProjectError(f"{root}: project schema {version} needs migrating; open it writable once")
            return cls(root, conn, readonly=readonly)

    @classmethod
    def _connect_and_read_version(cls, root: Path, db: Path, readonly: bool) -> tuple[sqlite3.Connection, int]:
        """Open `db` and read its schema version. Read-only: `mode=ro` first, which sees every committed change
        (the -wal included) but needs the -shm file there or a folder it can create it in; only when that fails
        (a read-only folder a writer closed cleanly, so without -wal or -shm) `immutable=1`, which reads the
        database file alone without any locking. Immutable reads can be stale: changes committed to a -wal that
        is there are not seen (said on stderr), nor what another process writes while this one reads."""
        problem = None
        for mode in ("ro", "immutable") if readonly else ("rw",):
            conn = None
            try:
                conn = cls._connect(db, readonly=readonly, immutable=mode == "immutable")
                version = project_schema.read_schema_version(conn)
            except sqlite3.DatabaseError as exc:  # OperationalError among them
                if conn is not None:
                    conn.close()  # an open handle would keep the folder's mount busy
                if not isinstance(exc, sqlite3.OperationalError):
                    raise ProjectError(f"{db}: not a readable project database ({exc})") from exc
                if not readonly:
                    raise _cannot_write(root, exc) from exc
                problem = exc
                continue
            wal = db.with_name(db.name + "-wal")
            if mode == "immutable" and wal.is_file() and wal.stat().st_size:
                _stderr_note(f"{wal}: changes committed there are not shown: the folder is read-only and has "
                             f"no {db.name}-shm to read them through; open the project once where it is "
                             "writable to fold them in")
            return conn, version
        raise ProjectError(f"{db}: not a readable project database ({problem})")

    @staticmethod
    def _connect(db: Path, *, readonly: bool, immutable: bool = False) -> sqlite3.Connection:
        if readonly:
            # immutable: a read-only folder where SQLite cannot create the WAL's -shm file
            query = "mode=ro&immutable=1" if immutable else "mode=ro"
            conn = sqlite3.connect(f"{db.as_uri()}?{query}", uri=True, isolation_level=None)
        else:
            conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # before WAL: switching may wait
            if not readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable across process kills, fast
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    @property
    def root(self) -> Path:
        return self._root

    @property
    def template(self) -> str:
        """The template this project registers to: "builtin" or a template file path."""
        return self._meta.get("template", "builtin")

    @property
    def readonly(self) -> bool:
        return self._readonly

    @property
    def busy_timeout_s(self) -> float:
        """How long SQLite waits for a lock before `on_busy` is told and the wait starts over (seconds)."""
        return self._conn.execute("PRAGMA busy_timeout").fetchone()[0] / 1000.0

    @busy_timeout_s.setter
    def busy_timeout_s(self, seconds: float) -> None:
        self._conn.execute(f"PRAGMA busy_timeout={max(0, int(seconds * 1000))}")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _project_template(self):
        """The project's Template (loaded once per Project object)."""
        if self._template is None:
            self._template = load_project_template(self)
        return self._template

    # -- transactions --------------------------------------------------------------------------------------
    def _execute_waiting(self, statement: str) -> None:
        """Run BEGIN IMMEDIATE or COMMIT, waiting (with a message) while another process holds the lock."""
        started = time.monotonic()
        while True:
            try:
                self._conn.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                waited = time.monotonic() - started
                if self.max_busy_wait_s is not None and waited >= self.max_busy_wait_s:
                    raise ProjectBusy(f"{self._root / DB_NAME}: still locked by another process after "
                                      f"{waited:.0f} s; try again when it is done") from exc
                self.on_busy(f"{self._root / DB_NAME}: another process is writing; waiting for it "
                             f"({waited:.0f} s so far, nothing computed is lost)")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all; nested uses join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if self._readonly:
            raise ProjectError(f"{self._root}: opened read-only")
        self._execute_waiting("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        try:
            self._execute_waiting("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # SQLite has already rolled back after some errors (a full disk): a second ROLLBACK would hide them
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    # -- overview ------------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Counts: images, persons, with_dense, fitted (current fit converged), failed, accepted, rejected,
        unreviewed, unusable (marked by mark_failed), rounds, finished_rounds."""
        q = self._conn.execute
        counts = dict(q("SELECT status, COUNT(*) FROM persons GROUP BY status").fetchall())
        fits = dict(q("SELECT fit_status, COUNT(*) FROM persons WHERE fit_status IS NOT NULL "
                      "GROUP BY fit_status").fetchall())
        return {
            "images": q("SELECT COUNT(*) FROM images").fetchone()[0],
            "persons": sum(counts.values()),
            "with_dense": q("SELECT COUNT(*) FROM persons WHERE num_points > 0").fetchone()[0],
            "fitted": fits.get("converged", 0),
            "failed": fits.get("failed", 0),
            "accepted": counts.get("accepted", 0),
            "rejected": counts.get("rejected", 0),
            "unreviewed": counts.get("unreviewed", 0),
            "unusable": q("SELECT COUNT(*) FROM persons WHERE problem IS NOT NULL").fetchone()[0],
            "rounds": q("SELECT COUNT(*) FROM rounds").fetchone()[0],
            "finished_rounds": q("SELECT COUNT(*) FROM rounds WHERE finished_at IS NOT NULL").fetchone()[0],
        }

    def fit_outcomes(self) -> dict:
        """How the current fits ended and what they are worth, counted in SQL: {"optimiser_converged": n,
        "stopped_at_step_limit": n (not failed, metrics["converged"] false: the optimiser ran out of steps),
        "quality": {"good", "poor", "degenerate", "not_judged"}: n}. A fit's stored status "converged" only
        means it did not fail; metrics["converged"] says whether its optimiser converged (fits that do not
        record it are in neither count)."""
        q = self._conn.execute
        ended = q("SELECT json_extract(f.metrics, '$.converged'), COUNT(*) FROM persons p "
                  "JOIN fits f ON f.id = p.current_fit_id WHERE f.status = 'converged' GROUP BY 1").fetchall()
        verdicts = dict(q("SELECT fit_quality, COUNT(*) FROM persons WHERE fit_status IS NOT NULL "
                          "GROUP BY fit_quality").fetchall())
        quality = {v: verdicts.get(v, 0) for v in ("good", "poor", "degenerate")}
        quality["not_judged"] = sum(verdicts.values()) - sum(quality.values())
        return {"optimiser_converged": sum(n for c, n in ended if c is not None and c),
                "stopped_at_step_limit": sum(n for c, n in ended if c is not None and not c), "quality": quality}


__all__ = ["DB_NAME", "ORDER_COLUMNS", "Project", "ProjectBusy", "ProjectError", "FitRecord", "PersonRecord",
           "PersonRow", "ReviewRecord", "RoundRecord"]
