"""The on-disk project the app, the command line and the workers share.

A project is a folder holding `project.sqlite` (WAL journal, foreign keys on, schema in project_schema.py)
and `arrays/` for bulk array files. Every write runs in a transaction (`with project.transaction():` groups
several into one), so a process killed at any moment leaves the last committed state. Readers never block
the one writer (WAL). Opening reads only the schema version and the meta table: nothing per person.

One `Project` object belongs to one thread; open another for another thread or process.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.correspondence import map_to_vertices, template_key
from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.files.atomic import atomic_write
from deformlearn.core.project import schema as project_schema
from deformlearn.core.project.records import (
    ERROR_METRIC,
    FIT_FILTERS,
    FIT_STATUSES,
    PERSON_STATUSES,
    REVIEW_STATUSES,
    FitRecord,
    PersonRecord,
    PersonRow,
    ProjectError,
    ReviewRecord,
    RoundRecord,
    array_to_blob,
    arrays_to_blob,
    blob_to_array,
    blob_to_arrays,
    to_json,
)

DB_NAME = "project.sqlite"
ARRAYS_DIR = "arrays"
#: list_persons order_by name -> SQL expression (a whitelist: order_by never reaches SQL unchecked).
ORDER_COLUMNS = {
    "id": "p.id", "name": "p.name", "image": "i.file", "status": "p.status", "points": "p.num_points",
    "keypoints": "p.num_keypoints", "score": "p.score", "error": "p.fit_error", "fit_status": "p.fit_status",
}


class Project:
    """A project folder. Create with `Project.create`, open with `Project.open`; use as a context manager."""

    def __init__(self, root: Path, conn: sqlite3.Connection, readonly: bool) -> None:
        self._root = root
        self._conn = conn
        self._readonly = readonly
        self._depth = 0
        self._template = None
        self._meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())

    # -- opening -------------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, template: str = "builtin") -> Project:
        """Make a new project folder (or fill an empty/non-project folder) and open it for writing."""
        root = Path(path).absolute()
        if (root / DB_NAME).exists():
            raise ProjectError(f"{root}: already a project")
        if root.exists() and not root.is_dir():
            raise ProjectError(f"{root}: exists and is not a folder")
        (root / ARRAYS_DIR).mkdir(parents=True, exist_ok=True)
        conn = cls._connect(root / DB_NAME, readonly=False)
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
        """Open an existing project; ProjectError naming the path when it is not one or is too new."""
        root = Path(path).absolute()
        db = root / DB_NAME
        if not db.is_file():
            raise ProjectError(f"{root}: not a deformlearn project (no {DB_NAME})")
        try:
            conn = cls._connect(db, readonly=readonly)
            version = project_schema.read_schema_version(conn)
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{db}: not a readable project database ({exc})") from exc
        if version > project_schema.SCHEMA_VERSION:
            conn.close()
            raise ProjectError(
                f"{root}: project schema version {version} is newer than this program's "
                f"({project_schema.SCHEMA_VERSION}); update deformlearn"
            )
        if version < project_schema.SCHEMA_VERSION:
            if readonly:
                conn.close()
                raise ProjectError(f"{root}: project schema {version} needs migrating; open it writable once")
            project_schema.migrate(conn)
        return cls(root, conn, readonly=readonly)

    @staticmethod
    def _connect(db: Path, *, readonly: bool) -> sqlite3.Connection:
        if readonly:
            conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, isolation_level=None)
        else:
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable across process kills, fast
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
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

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------------------------
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
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    # -- images and persons --------------------------------------------------------------------------------
    def _store_path(self, file: str | Path | None) -> str | None:
        if file is None:
            return None
        p = Path(file).absolute()
        try:
            return p.relative_to(self._root).as_posix()
        except ValueError:
            return str(p)

    def _abs_path(self, stored: str | None) -> str | None:
        return None if stored is None else str(self._root / stored)

    def add_image(self, file: str | Path, width: int, height: int, *, iuv_file: str | Path | None = None,
                  inds_file: str | Path | None = None) -> int:
        """Add an image (or return the id of the same file already added)."""
        stored = self._store_path(file)
        with self.transaction():
            self._conn.execute(
                "INSERT OR IGNORE INTO images (file, width, height, iuv_file, inds_file) VALUES (?, ?, ?, ?, ?)",
                (stored, int(width), int(height), self._store_path(iuv_file), self._store_path(inds_file)),
            )
            return int(self._conn.execute("SELECT id FROM images WHERE file = ?", (stored,)).fetchone()[0])

    def add_person(self, image_id: int, *, bbox: np.ndarray, keypoints: np.ndarray, dense: DensePoints | None,
                   source_key: str, name: str | None = None, coarse_mask: np.ndarray | None = None,
                   score: float | None = None) -> int | None:
        """Add a person; None (and nothing written) when `source_key` is already in the project.

        bbox: (4,) x, y, w, h pixels; keypoints: (17, 3) x, y pixels + visibility; coarse_mask: optional
        (256, 256) uint8 coarse parts over the box.
        """
        bbox = np.asarray(bbox, dtype=np.float32).reshape(4)
        keypoints = np.asarray(keypoints, dtype=np.float32)
        if keypoints.shape != (17, 3):
            raise ValueError(f"add_person: keypoints shape {keypoints.shape}, expected (17, 3)")
        with self.transaction():
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO persons (image_id, name, source_key, bbox, keypoints, num_points, "
                "num_keypoints, score, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (int(image_id), name, source_key, array_to_blob(bbox), array_to_blob(keypoints),
                 0 if dense is None else len(dense), int((keypoints[:, 2] > 0).sum()), score, time.time()),
            )
            if cur.rowcount == 0:
                return None
            person_id = int(cur.lastrowid)
            if dense is not None:
                self._conn.execute(
                    "INSERT INTO dense (person_id, xy, part, uv, coarse_mask) VALUES (?, ?, ?, ?, ?)",
                    (person_id, array_to_blob(dense.xy), array_to_blob(dense.part), array_to_blob(dense.uv),
                     None if coarse_mask is None else array_to_blob(np.asarray(coarse_mask, np.uint8))),
                )
            return person_id

    def update_annotation(self, person_id: int, *, keypoints: np.ndarray | None = None,
                          dense: DensePoints | None = None) -> None:
        """Replace a person's keypoints (17, 3) x, y pixels + visibility and/or dense points, in one transaction.

        When `dense` is given (an empty one removes the person's dense points), the person's correspondences
        are recomputed for the project's template (core.densepose.correspondence.map_to_vertices; about 1 ms for a
        person's points) and dropped for every other template key, so none refer to the old points. The
        coarse mask is kept. ProjectError when there is no such person.
        """
        if keypoints is not None:
            keypoints = np.asarray(keypoints, dtype=np.float32)
            if keypoints.shape != (17, 3):
                raise ValueError(f"update_annotation: keypoints shape {keypoints.shape}, expected (17, 3)")
        if dense is not None and not isinstance(dense, DensePoints):
            raise ValueError(f"update_annotation: dense is a {type(dense).__name__}, expected DensePoints")
        template = None if dense is None or not len(dense) else self._project_template()
        with self.transaction():
            if self._conn.execute("SELECT 1 FROM persons WHERE id = ?", (int(person_id),)).fetchone() is None:
                raise ProjectError(f"{self._root}: no person {person_id}")
            if keypoints is not None:
                self._conn.execute("UPDATE persons SET keypoints = ?, num_keypoints = ? WHERE id = ?",
                                   (array_to_blob(keypoints), int((keypoints[:, 2] > 0).sum()), int(person_id)))
            if dense is None:
                return
            self._conn.execute("UPDATE persons SET num_points = ? WHERE id = ?", (len(dense), int(person_id)))
            self._conn.execute("DELETE FROM correspondences WHERE person_id = ?", (int(person_id),))
            if not len(dense):
                self._conn.execute("DELETE FROM dense WHERE person_id = ?", (int(person_id),))
                return
            self._conn.execute(
                "INSERT INTO dense (person_id, xy, part, uv) VALUES (?, ?, ?, ?) ON CONFLICT(person_id) DO "
                "UPDATE SET xy = excluded.xy, part = excluded.part, uv = excluded.uv",
                (int(person_id), array_to_blob(dense.xy), array_to_blob(dense.part), array_to_blob(dense.uv)),
            )
            vertex, residual = map_to_vertices(template, dense.part, dense.uv)
            self.set_correspondences(person_id, template_key(template), vertex, residual)

    def _project_template(self):
        """The project's Template (loaded once per Project object)."""
        if self._template is None:
            from deformlearn.core.project.importing import (
                load_project_template,  # it imports this module
            )

            self._template = load_project_template(self)
        return self._template

    def person(self, person_id: int) -> PersonRecord:
        row = self._conn.execute(
            "SELECT p.id, p.image_id, i.file, i.width, i.height, i.iuv_file, i.inds_file, p.name, p.source_key, "
            "p.bbox, p.keypoints, p.score, p.status, p.latest_fit_id, d.xy, d.part, d.uv, d.coarse_mask "
            "FROM persons p JOIN images i ON i.id = p.image_id LEFT JOIN dense d ON d.person_id = p.id "
            "WHERE p.id = ?", (int(person_id),),
        ).fetchone()
        if row is None:
            raise ProjectError(f"{self._root}: no person {person_id}")
        dense = None if row[14] is None else DensePoints(
            xy=blob_to_array(row[14]), part=blob_to_array(row[15]), uv=blob_to_array(row[16]))
        return PersonRecord(
            id=row[0], image_id=row[1], image_file=self._abs_path(row[2]), image_size=(row[3], row[4]),
            iuv_file=self._abs_path(row[5]), inds_file=self._abs_path(row[6]), name=row[7], source_key=row[8],
            bbox=blob_to_array(row[9]), keypoints=blob_to_array(row[10]), dense=dense,
            coarse_mask=None if row[17] is None else blob_to_array(row[17]), score=row[11], status=row[12],
            latest_fit_id=row[13],
        )

    @staticmethod
    def _filter_clauses(status: str | None, fit_status: str | None) -> tuple[list[str], list]:
        """SQL conditions on persons (alias p) and their arguments for a review and a fit-status filter."""
        clauses, args = [], []
        if status is not None:
            if status not in PERSON_STATUSES:
                raise ValueError(f"status {status!r}: expected one of {PERSON_STATUSES}")
            clauses.append("p.status = ?")
            args.append(status)
        if fit_status is not None:
            if fit_status not in FIT_FILTERS:
                raise ValueError(f"fit_status {fit_status!r}: expected one of {tuple(FIT_FILTERS)}")
            clauses.append("p." + FIT_FILTERS[fit_status])
        return clauses, args

    def _where(self, status: str | None, fit_status: str | None) -> tuple[str, tuple]:
        clauses, args = self._filter_clauses(status, fit_status)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)

    def person_ids(self, *, status: str | None = None, fit_status: str | None = None) -> np.ndarray:
        """(P,) int64 person ids in id order, optionally only those with this review status and fit status
        ("unfitted", "fitted" or "failed": of the person's latest fit)."""
        where, args = self._where(status, fit_status)
        rows = self._conn.execute(f"SELECT id FROM persons p{where} ORDER BY id", args).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def count_persons(self, *, status: str | None = None, fit_status: str | None = None) -> int:
        """How many persons have this review status and fit status (None: any; see person_ids)."""
        where, args = self._where(status, fit_status)
        return int(self._conn.execute(f"SELECT COUNT(*) FROM persons p{where}", args).fetchone()[0])

    def list_persons(self, *, offset: int = 0, limit: int = 100, order_by: str = "id", descending: bool = False,
                     status: str | None = None, fit_status: str | None = None, max_error: float | None = None,
                     search: str | None = None) -> list[PersonRow]:
        """A page of light rows for the people list. order_by: one of ORDER_COLUMNS; status: review status;
        fit_status: "unfitted", "fitted" or "failed" (of the latest fit); search matches the person's name or
        image file (substring); max_error keeps fitted people with error <= max_error."""
        if order_by not in ORDER_COLUMNS:
            raise ValueError(f"order_by {order_by!r}: expected one of {sorted(ORDER_COLUMNS)}")
        clauses, args = self._filter_clauses(status, fit_status)
        if max_error is not None:
            clauses.append("p.fit_error <= ?")
            args.append(float(max_error))
        if search:
            clauses.append("(p.name LIKE ? ESCAPE '\\' OR i.file LIKE ? ESCAPE '\\')")
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern]
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        direction = "DESC" if descending else "ASC"
        rows = self._conn.execute(
            "SELECT p.id, p.image_id, i.file, p.name, p.num_points, p.num_keypoints, p.score, p.status, "
            f"p.fit_status, p.fit_error FROM persons p JOIN images i ON i.id = p.image_id{where} "
            f"ORDER BY {ORDER_COLUMNS[order_by]} {direction}, p.id {direction} LIMIT ? OFFSET ?",
            (*args, int(limit), int(offset)),
        ).fetchall()
        return [PersonRow(r[0], r[1], self._abs_path(r[2]), *r[3:]) for r in rows]

    # -- correspondences and ground truth ------------------------------------------------------------------
    def set_correspondences(self, person_id: int, template_key: str, vertex_index: np.ndarray,
                            residual: np.ndarray) -> None:
        """Store (N,) int64 template vertex per dense point and (N,) float32 UV residual (replaces)."""
        vertex_index = np.asarray(vertex_index, dtype=np.int64)
        residual = np.asarray(residual, dtype=np.float32)
        if vertex_index.ndim != 1 or residual.shape != vertex_index.shape:
            raise ValueError(f"set_correspondences: shapes {vertex_index.shape} and {residual.shape}, expected (N,)")
        with self.transaction():
            self._conn.execute(
                "INSERT OR REPLACE INTO correspondences (person_id, template_key, vertex_index, residual) "
                "VALUES (?, ?, ?, ?)",
                (int(person_id), template_key, array_to_blob(vertex_index), array_to_blob(residual)),
            )

    def correspondences(self, person_id: int, template_key: str) -> tuple[np.ndarray, np.ndarray] | None:
        row = self._conn.execute(
            "SELECT vertex_index, residual FROM correspondences WHERE person_id = ? AND template_key = ?",
            (int(person_id), template_key),
        ).fetchone()
        return None if row is None else (blob_to_array(row[0]), blob_to_array(row[1]))

    def set_ground_truth(self, person_id: int, arrays: dict[str, np.ndarray]) -> None:
        with self.transaction():
            self._conn.execute("INSERT OR REPLACE INTO ground_truth (person_id, arrays) VALUES (?, ?)",
                               (int(person_id), arrays_to_blob(arrays)))

    def ground_truth(self, person_id: int) -> dict[str, np.ndarray] | None:
        row = self._conn.execute("SELECT arrays FROM ground_truth WHERE person_id = ?", (int(person_id),)).fetchone()
        return None if row is None else blob_to_arrays(row[0])

    # -- fits ----------------------------------------------------------------------------------------------
    def save_fits(self, fits: list[FitRecord]) -> list[int]:
        """Store fits in one transaction and make each the person's latest fit; return their ids."""
        ids = []
        now = time.time()
        with self.transaction():
            for fit in fits:
                if fit.status not in FIT_STATUSES:
                    raise ValueError(f"fit status {fit.status!r}: expected one of {FIT_STATUSES}")
                metrics = {k: float(v) for k, v in fit.metrics.items()}
                cur = self._conn.execute(
                    "INSERT INTO fits (person_id, round_index, params, metrics, status, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (int(fit.person_id), int(fit.round_index), arrays_to_blob(fit.params), to_json(metrics),
                     fit.status, now),
                )
                ids.append(int(cur.lastrowid))
                self._conn.execute(
                    "UPDATE persons SET latest_fit_id = ?, fit_status = ?, fit_error = ? WHERE id = ?",
                    (ids[-1], fit.status, metrics.get(ERROR_METRIC), int(fit.person_id)),
                )
        return ids

    def _fit_from_row(self, row: tuple) -> FitRecord:
        return FitRecord(person_id=row[1], round_index=row[2], params=blob_to_arrays(row[3]),
                         metrics=json.loads(row[4]), status=row[5], id=row[0], created_at=row[6])

    _FIT_COLUMNS = "id, person_id, round_index, params, metrics, status, created_at"

    def latest_fit(self, person_id: int, round_index: int | None = None) -> FitRecord | None:
        """The person's most recent fit, or its most recent one in `round_index`."""
        sql = f"SELECT {self._FIT_COLUMNS} FROM fits WHERE person_id = ?"
        args: tuple = (int(person_id),)
        if round_index is not None:
            sql += " AND round_index = ?"
            args += (int(round_index),)
        row = self._conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return None if row is None else self._fit_from_row(row)

    def fits(self, round_index: int) -> list[FitRecord]:
        """The latest fit of each person in this round, in person id order."""
        rows = self._conn.execute(
            f"SELECT {self._FIT_COLUMNS} FROM fits WHERE id IN "
            "(SELECT MAX(id) FROM fits WHERE round_index = ? GROUP BY person_id) ORDER BY person_id",
            (int(round_index),),
        ).fetchall()
        return [self._fit_from_row(r) for r in rows]

    # -- reviews -------------------------------------------------------------------------------------------
    def set_review(self, person_id: int, status: str, reason: str = "") -> None:
        """Record a review (history kept); "cleared" makes the person unreviewed again."""
        if status not in REVIEW_STATUSES:
            raise ValueError(f"review status {status!r}: expected one of {REVIEW_STATUSES}")
        with self.transaction():
            cur = self._conn.execute("UPDATE persons SET status = ? WHERE id = ?",
                                     ("unreviewed" if status == "cleared" else status, int(person_id)))
            if cur.rowcount == 0:
                raise ProjectError(f"{self._root}: no person {person_id}")
            self._conn.execute("INSERT INTO reviews (person_id, status, reason, at) VALUES (?, ?, ?, ?)",
                               (int(person_id), status, reason, time.time()))

    def review_history(self, person_id: int) -> list[ReviewRecord]:
        rows = self._conn.execute("SELECT person_id, status, reason, at FROM reviews WHERE person_id = ? ORDER BY id",
                                  (int(person_id),)).fetchall()
        return [ReviewRecord(*r) for r in rows]

    # -- rounds --------------------------------------------------------------------------------------------
    def start_round(self, index: int) -> None:
        """Create round `index` (or restart its clock if it exists; its stages and models are kept)."""
        with self.transaction():
            self._conn.execute("INSERT INTO rounds (idx, started_at) VALUES (?, ?) ON CONFLICT(idx) DO UPDATE "
                               "SET started_at = excluded.started_at, finished_at = NULL", (int(index), time.time()))

    def update_round(self, index: int, **fields) -> None:
        """Merge into round `index`: stages=dict, models=dict, metrics=dict (merged key by key),
        finished=True (stamps finished_at) or finished_at=float."""
        allowed = {"stages", "models", "metrics", "finished", "finished_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"update_round: unknown fields {sorted(unknown)}; expected {sorted(allowed)}")
        with self.transaction():
            row = self._conn.execute("SELECT stages, models, metrics, finished_at FROM rounds WHERE idx = ?",
                                     (int(index),)).fetchone()
            if row is None:
                raise ProjectError(f"{self._root}: no round {index}; call start_round first")
            merged = [json.loads(row[i]) | dict(fields.get(k, {})) for i, k in enumerate(("stages", "models", "metrics"))]
            finished_at = fields.get("finished_at", time.time() if fields.get("finished") else row[3])
            self._conn.execute("UPDATE rounds SET stages = ?, models = ?, metrics = ?, finished_at = ? WHERE idx = ?",
                               (*(to_json(m) for m in merged), finished_at, int(index)))

    def rounds(self) -> list[RoundRecord]:
        rows = self._conn.execute(
            "SELECT idx, stages, models, metrics, started_at, finished_at FROM rounds ORDER BY idx").fetchall()
        return [RoundRecord(r[0], json.loads(r[1]), json.loads(r[2]), json.loads(r[3]), r[4], r[5]) for r in rows]

    # -- bulk arrays ---------------------------------------------------------------------------------------
    def _array_path(self, relpath: str) -> Path:
        rel = Path(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"array path {relpath!r}: must be relative and stay under {ARRAYS_DIR}/")
        return self._root / ARRAYS_DIR / rel.with_suffix(".npy")

    def write_array(self, relpath: str, array: np.ndarray) -> Path:
        """Write `array` to arrays/<relpath>.npy atomically (temp file, fsync, os.replace); return the path."""
        if self._readonly:
            raise ProjectError(f"{self._root}: opened read-only")
        path = self._array_path(relpath)
        array = np.asarray(array)
        return atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))

    def read_array(self, relpath: str) -> np.ndarray:
        path = self._array_path(relpath)
        if not path.is_file():
            raise ProjectError(f"{path}: no such array in the project")
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ProjectError(f"{path}: unreadable array ({exc})") from exc

    # -- overview ------------------------------------------------------------------------------------------
    def summary(self) -> dict:
        """Counts: images, persons, with_dense, fitted (latest fit converged), failed, accepted, rejected,
        unreviewed, rounds, finished_rounds."""
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
            "rounds": q("SELECT COUNT(*) FROM rounds").fetchone()[0],
            "finished_rounds": q("SELECT COUNT(*) FROM rounds WHERE finished_at IS NOT NULL").fetchone()[0],
        }


__all__ = ["Project", "ProjectError", "FitRecord", "PersonRecord", "PersonRow", "ReviewRecord", "RoundRecord"]
