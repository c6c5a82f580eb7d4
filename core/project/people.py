"""The project's images and people: adding them (identified by content), their annotations, the people
list's queries, correspondences, ground truth, and people marked unusable. A mixin of `Project`."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.correspondence import map_to_vertices, template_key
from deformlearn.core.densepose.records import DensePoints, dense_points
from deformlearn.core.project.content_identity import annotation_digest, file_digest, person_content_key
from deformlearn.core.project.records import (
    FIT_FILTERS,
    ORDER_COLUMNS,
    PERSON_STATUSES,
    PersonRecord,
    PersonRow,
    ProjectError,
    array_to_blob,
    arrays_to_blob,
    blob_to_array,
    blob_to_arrays,
)


def check_keypoints(keypoints: np.ndarray, where: str) -> np.ndarray:
    """(17, 3) float32 x, y pixels + visibility, checked after the conversion (1e39 becomes inf in float32);
    the third column must be 0 (missing), a confidence in (0, 1] or COCO's visibility 1 or 2."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.shape != (17, 3):
        raise ValueError(f"{where}: keypoints shape {keypoints.shape}, expected (17, 3)")
    if not np.all(np.isfinite(keypoints)):
        raise ValueError(f"{where}: keypoints hold non-finite values after conversion to float32 "
                         f"(rows {np.nonzero(~np.isfinite(keypoints).all(1))[0].tolist()})")
    v = keypoints[:, 2]
    bad = np.flatnonzero(~(((v >= 0) & (v <= 1)) | (v == 2)))
    if len(bad):
        raise ValueError(f"{where}: keypoint {bad[0]} has visibility {v[bad[0]]:g}; expected 0, a confidence in "
                         "(0, 1] or COCO's 1 or 2")
    return keypoints


#: The columns of a PersonRow, for `list_persons` and `person_row` to add their WHERE (and ORDER) to.
_ROW_SELECT = ("SELECT p.id, p.image_id, i.file, p.name, p.num_points, p.num_keypoints, p.score, p.status, "
               "p.fit_status, p.fit_error, p.fit_quality, json_extract(f.metrics, '$.converged'), "
               "json_extract(f.metrics, '$.quality_flags') FROM persons p JOIN images i ON i.id = p.image_id "
               "LEFT JOIN fits f ON f.id = p.current_fit_id")


class PeopleMixin:
    """Images and persons of a `Project` (uses its connection, root and transactions)."""

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
        """Add an image (or return the id of the same file already added). Its bytes' digest (the name's
        when the file is not there) is part of the identity of the people on it."""
        stored = self._store_path(file)
        with self.transaction():
            row = self._conn.execute("SELECT id, content_hash FROM images WHERE file = ?", (stored,)).fetchone()
            if row is not None and row[1] is not None:
                return int(row[0])
            digest = file_digest(Path(file).absolute())
            if row is not None:  # an image of a project made before content identity
                self._conn.execute("UPDATE images SET content_hash = ? WHERE id = ?", (digest, row[0]))
                return int(row[0])
            cur = self._conn.execute(
                "INSERT INTO images (file, width, height, iuv_file, inds_file, content_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (stored, int(width), int(height), self._store_path(iuv_file), self._store_path(inds_file), digest),
            )
            return int(cur.lastrowid)

    def drop_images_without_people(self, image_ids) -> dict[int, str]:
        """Remove those of `image_ids` that hold no person (an import's images whose people were all there
        already, under another file name); return {id: absolute file} of those removed."""
        empty = {}
        with self.transaction():
            for i in sorted({int(i) for i in image_ids}):
                row = self._conn.execute("SELECT file FROM images i WHERE id = ? AND NOT EXISTS "
                                         "(SELECT 1 FROM persons WHERE image_id = i.id)", (i,)).fetchone()
                if row is not None:
                    empty[i] = self._abs_path(row[0])
            self._conn.executemany("DELETE FROM images WHERE id = ?", [(i,) for i in empty])
        return empty

    def add_person(self, image_id: int, *, bbox: np.ndarray, keypoints: np.ndarray, dense: DensePoints | None,
                   source_key: str, name: str | None = None, coarse_mask: np.ndarray | None = None,
                   score: float | None = None) -> int | None:
        """Add a person; None (and nothing written) when the same person is already in the project.

        The same person: the same image bytes and the same annotation (box, keypoints, dense points), whatever
        the file names; `source_key` ("file.json#ann=7") is kept as where the person came from. bbox: (4,) x,
        y, w, h pixels; keypoints: (17, 3) x, y pixels + visibility; coarse_mask: optional (256, 256) uint8
        coarse parts over the box. ValueError naming `source_key` for non-finite values.
        """
        bbox = np.asarray(bbox, dtype=np.float32).reshape(4)
        keypoints = check_keypoints(keypoints, source_key)
        if not np.all(np.isfinite(bbox)):
            raise ValueError(f"{source_key}: bbox holds non-finite values after conversion to float32")
        with self.transaction():
            row = self._conn.execute("SELECT content_hash FROM images WHERE id = ?", (int(image_id),)).fetchone()
            if row is None:
                raise ProjectError(f"{self._root}: no image {image_id}")
            key = person_content_key(row[0] or "", annotation_digest(bbox, keypoints, dense))
            if self._conn.execute("SELECT 1 FROM persons WHERE content_key = ? OR (content_key IS NULL AND "
                                  "source_key = ?)", (key, source_key)).fetchone():
                return None
            cur = self._conn.execute(
                "INSERT INTO persons (image_id, name, source_key, content_key, bbox, keypoints, num_points, "
                "num_keypoints, score, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (int(image_id), name, source_key, key, array_to_blob(bbox), array_to_blob(keypoints),
                 0 if dense is None else len(dense), int((keypoints[:, 2] > 0).sum()), score, time.time()),
            )
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
        coarse mask is kept; a mark of unusable data (`mark_failed`) is cleared. ProjectError when there is
        no such person.
        """
        if keypoints is not None:
            keypoints = check_keypoints(keypoints, f"update_annotation of person {person_id}")
        if dense is not None and not isinstance(dense, DensePoints):
            raise ValueError(f"update_annotation: dense is a {type(dense).__name__}, expected DensePoints")
        template = None if dense is None or not len(dense) else self._project_template()
        with self.transaction():
            if self._conn.execute("SELECT 1 FROM persons WHERE id = ?", (int(person_id),)).fetchone() is None:
                raise ProjectError(f"{self._root}: no person {person_id}")
            self._conn.execute("UPDATE persons SET problem = NULL WHERE id = ?", (int(person_id),))
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

    def person(self, person_id: int) -> PersonRecord:
        row = self._conn.execute(
            "SELECT p.id, p.image_id, i.file, i.width, i.height, i.iuv_file, i.inds_file, p.name, p.source_key, "
            "p.bbox, p.keypoints, p.score, p.status, p.latest_fit_id, d.xy, d.part, d.uv, d.coarse_mask, "
            "p.current_fit_id, p.problem FROM persons p JOIN images i ON i.id = p.image_id "
            "LEFT JOIN dense d ON d.person_id = p.id WHERE p.id = ?", (int(person_id),),
        ).fetchone()
        if row is None:
            raise ProjectError(f"{self._root}: no person {person_id}")
        dense = None if row[14] is None else dense_points(
            f"{self._root}: person {row[0]}", xy=blob_to_array(row[14]), part=blob_to_array(row[15]),
            uv=blob_to_array(row[16]))
        return PersonRecord(
            id=row[0], image_id=row[1], image_file=self._abs_path(row[2]), image_size=(row[3], row[4]),
            iuv_file=self._abs_path(row[5]), inds_file=self._abs_path(row[6]), name=row[7], source_key=row[8],
            bbox=blob_to_array(row[9]), keypoints=blob_to_array(row[10]), dense=dense,
            coarse_mask=None if row[17] is None else blob_to_array(row[17]), score=row[11], status=row[12],
            latest_fit_id=row[13], current_fit_id=row[18], problem=row[19],
        )

    # -- people marked unusable ----------------------------------------------------------------------------
    def mark_failed(self, person_id: int, reason: str) -> None:
        """Mark a person's data unusable (`reason` says why): `person_ids(usable_only=True)` leaves it out
        until its annotation is edited or `clear_failed` is called. The person and its fits stay."""
        with self.transaction():
            cur = self._conn.execute("UPDATE persons SET problem = ? WHERE id = ?", (str(reason), int(person_id)))
            if cur.rowcount == 0:
                raise ProjectError(f"{self._root}: no person {person_id}")

    def mark_unusable_data(self) -> dict[int, str]:
        """Mark (`mark_failed`) every person whose stored box, keypoints or dense points are not finite (older
        projects took 1e39 as inf); return {person id: reason} of those newly marked."""
        rows = self._conn.execute("SELECT p.id, p.bbox, p.keypoints, d.xy, d.uv FROM persons p LEFT JOIN dense d "
                                  "ON d.person_id = p.id WHERE p.problem IS NULL").fetchall()
        found = {}
        for pid, *blobs in rows:
            bad = [name for name, blob in zip(("bbox", "keypoints", "dense xy", "dense uv"), blobs)
                   if blob is not None and not np.all(np.isfinite(blob_to_array(blob)))]
            if bad:
                found[int(pid)] = f"person {pid}: non-finite {', '.join(bad)}; fix its annotation"
        with self.transaction():
            for pid, reason in found.items():
                self.mark_failed(pid, reason)
        return found

    def clear_failed(self, person_id: int) -> None:
        with self.transaction():
            self._conn.execute("UPDATE persons SET problem = NULL WHERE id = ?", (int(person_id),))

    def failed_people(self) -> dict[int, str]:
        """{person id: reason} of the people marked unusable."""
        rows = self._conn.execute("SELECT id, problem FROM persons WHERE problem IS NOT NULL ORDER BY id").fetchall()
        return {int(r[0]): r[1] for r in rows}

    # -- the people list -----------------------------------------------------------------------------------
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

    def _where(self, status: str | None, fit_status: str | None, usable_only: bool = False) -> tuple[str, tuple]:
        clauses, args = self._filter_clauses(status, fit_status)
        if usable_only:
            clauses.append("p.problem IS NULL")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", tuple(args)

    def person_ids(self, *, status: str | None = None, fit_status: str | None = None,
                   usable_only: bool = False) -> np.ndarray:
        """(P,) int64 person ids in id order, optionally only those with this review status and fit status
        (a FIT_FILTERS key: the status or quality verdict of the person's current fit); usable_only leaves out the people
        `mark_failed` marked."""
        where, args = self._where(status, fit_status, usable_only)
        rows = self._conn.execute(f"SELECT id FROM persons p{where} ORDER BY id", args).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def point_counts(self) -> dict[int, tuple[int, int]]:
        """{person_id: (dense points, visible keypoints)} from the stored counts, without reading any array."""
        rows = self._conn.execute("SELECT id, num_points, num_keypoints FROM persons").fetchall()
        return {int(i): (int(n), int(k)) for i, n, k in rows}

    def count_persons(self, *, status: str | None = None, fit_status: str | None = None) -> int:
        """How many persons have this review status and fit status (None: any; see person_ids)."""
        where, args = self._where(status, fit_status)
        return int(self._conn.execute(f"SELECT COUNT(*) FROM persons p{where}", args).fetchone()[0])

    def list_persons(self, *, offset: int = 0, limit: int = 100, order_by: str = "id", descending: bool = False,
                     status: str | None = None, fit_status: str | None = None, max_error: float | None = None,
                     search: str | None = None) -> list[PersonRow]:
        """A page of light rows for the people list. order_by: one of ORDER_COLUMNS; status: review status
        (of the current fit); fit_status: a FIT_FILTERS key (the current fit's status or quality verdict);
        search matches the person's name or image file (substring); max_error keeps fitted people with error
        <= max_error whose fit is not degenerate. Sorting by "error" lists degenerate fits last, and after them
        people without an error (unfitted, or fitted to keypoints alone: fit_error None)."""
        if order_by not in ORDER_COLUMNS:
            raise ValueError(f"order_by {order_by!r}: expected one of {sorted(ORDER_COLUMNS)}")
        clauses, args = self._filter_clauses(status, fit_status)
        if max_error is not None:
            clauses.append("p.fit_error <= ? AND p.fit_quality IS NOT 'degenerate'")
            args.append(float(max_error))
        if search:
            clauses.append("(p.name LIKE ? ESCAPE '\\' OR i.file LIKE ? ESCAPE '\\')")
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            args += [pattern, pattern]
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        direction = "DESC" if descending else "ASC"
        apart = "(p.fit_error IS NULL), (p.fit_quality IS 'degenerate'), " if order_by == "error" else ""
        rows = self._conn.execute(
            f"{_ROW_SELECT}{where} ORDER BY {apart}{ORDER_COLUMNS[order_by]} {direction}, p.id {direction} "
            "LIMIT ? OFFSET ?", (*args, int(limit), int(offset)),
        ).fetchall()
        return [PersonRow(r[0], r[1], self._abs_path(r[2]), *r[3:]) for r in rows]

    def person_row(self, person_id: int) -> PersonRow | None:
        """The people list's row of one person (as `list_persons` gives it), or None when there is none."""
        r = self._conn.execute(f"{_ROW_SELECT} WHERE p.id = ?", (int(person_id),)).fetchone()
        return None if r is None else PersonRow(r[0], r[1], self._abs_path(r[2]), *r[3:])

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
