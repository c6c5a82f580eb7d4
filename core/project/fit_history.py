"""Fit history and review: every fit a person ever got is kept; a review decision belongs to one fit; the
person's current fit is the one the list shows, export writes and the regressor trains on. A mixin of
`Project`.

A new fit (`save_fits`) becomes the person's current fit unless the current one carries a review decision
(accepted or rejected): a later round or re-fit then adds an unreviewed fit beside it and never moves the
decision onto it; the user chooses with `set_current_fit`. A decision made before the person had any fit
passes to its first fit. persons.status, fit_status and fit_error mirror the current fit (fit_error is NULL for a
fit to keypoints alone: `records.dense_error`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable

from deformlearn.core.project.records import (
    FIT_STATUSES,
    QUALITY_METRIC,
    REVIEW_STATUSES,
    FitRecord,
    ProjectError,
    ReviewRecord,
    arrays_to_blob,
    blob_to_arrays,
    dense_error,
    to_json,
)

_FIT_COLUMNS = "id, person_id, round_index, params, metrics, status, created_at, settings, review_status"


def _floats(metrics: dict) -> dict:
    """Stored metrics back to floats (strict JSON stores NaN as null)."""
    return {k: math.nan if v is None else v for k, v in metrics.items()}


class FitHistoryMixin:
    """Fits and reviews of a `Project` (uses its connection, root and transactions)."""

    def _fit_from_row(self, row: tuple) -> FitRecord:
        return FitRecord(person_id=row[1], round_index=row[2], params=blob_to_arrays(row[3]),
                         metrics=_floats(json.loads(row[4])), status=row[5], id=row[0], created_at=row[6],
                         settings=json.loads(row[7]), review_status=row[8])

    def _person_fit_state(self, person_id: int) -> tuple[int | None, str]:
        row = self._conn.execute("SELECT current_fit_id, status FROM persons WHERE id = ?", (int(person_id),)).fetchone()
        if row is None:
            raise ProjectError(f"{self._root}: no person {person_id}")
        return row[0], row[1]

    def _make_current(self, person_id: int, fit_id: int) -> None:
        """Point the person at fit `fit_id` and mirror its review status, fit status and error."""
        status, metrics, review = self._conn.execute(
            "SELECT status, metrics, review_status FROM fits WHERE id = ?", (int(fit_id),)).fetchone()
        metrics = json.loads(metrics)
        self._conn.execute(
            "UPDATE persons SET current_fit_id = ?, status = ?, fit_status = ?, fit_error = ?, fit_quality = ? "
            "WHERE id = ?", (int(fit_id), review, status, dense_error(metrics), metrics.get(QUALITY_METRIC),
                             int(person_id)))

    def save_fits(self, fits: list[FitRecord], *, make_current: bool | None = None) -> list[int]:
        """Store fits in one transaction (each the person's latest fit); return their ids.

        make_current: None follows the rule of the module docstring; True makes each new fit current (a
        re-fit the user asked for); False never changes a current fit that exists.
        """
        ids = []
        now = time.time()
        with self.transaction():
            for fit in fits:
                if fit.status not in FIT_STATUSES:
                    raise ValueError(f"fit status {fit.status!r}: expected one of {FIT_STATUSES}")
                current, person_status = self._person_fit_state(fit.person_id)
                metrics = {k: v if isinstance(v, str) else float(v) for k, v in fit.metrics.items()}  # str: verdicts
                inherited = person_status if current is None else "unreviewed"
                cur = self._conn.execute(
                    "INSERT INTO fits (person_id, round_index, params, metrics, status, created_at, settings, "
                    "review_status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (int(fit.person_id), int(fit.round_index), arrays_to_blob(fit.params), to_json(metrics),
                     fit.status, now, to_json(dict(fit.settings)), inherited),
                )
                ids.append(int(cur.lastrowid))
                self._conn.execute("UPDATE persons SET latest_fit_id = ? WHERE id = ?", (ids[-1], int(fit.person_id)))
                if current is None or make_current or (make_current is None and person_status == "unreviewed"):
                    self._make_current(fit.person_id, ids[-1])
        return ids

    def fit(self, fit_id: int) -> FitRecord:
        row = self._conn.execute(f"SELECT {_FIT_COLUMNS} FROM fits WHERE id = ?", (int(fit_id),)).fetchone()
        if row is None:
            raise ProjectError(f"{self._root}: no fit {fit_id}")
        return self._fit_from_row(row)

    def latest_fit(self, person_id: int, round_index: int | None = None) -> FitRecord | None:
        """The person's most recent fit, or its most recent one in `round_index` (see also current_fit)."""
        sql = f"SELECT {_FIT_COLUMNS} FROM fits WHERE person_id = ?"
        args: tuple = (int(person_id),)
        if round_index is not None:
            sql += " AND round_index = ?"
            args += (int(round_index),)
        row = self._conn.execute(sql + " ORDER BY id DESC LIMIT 1", args).fetchone()
        return None if row is None else self._fit_from_row(row)

    def fits(self, round_index: int) -> list[FitRecord]:
        """The latest fit of each person in this round, in person id order."""
        rows = self._conn.execute(
            f"SELECT {_FIT_COLUMNS} FROM fits WHERE id IN "
            "(SELECT MAX(id) FROM fits WHERE round_index = ? GROUP BY person_id) ORDER BY person_id",
            (int(round_index),),
        ).fetchall()
        return [self._fit_from_row(r) for r in rows]

    def fit_history(self, person_id: int) -> list[FitRecord]:
        """Every fit of the person, oldest first, each with its round, settings, metrics and review status."""
        self._person_fit_state(person_id)
        rows = self._conn.execute(f"SELECT {_FIT_COLUMNS} FROM fits WHERE person_id = ? ORDER BY id",
                                  (int(person_id),)).fetchall()
        return [self._fit_from_row(r) for r in rows]

    def current_fit(self, person_id: int) -> FitRecord | None:
        """The fit the person's review status, the list, export and regressor training refer to."""
        current, _ = self._person_fit_state(person_id)
        return None if current is None else self.fit(current)

    def current_fits(self, person_ids: Iterable[int] | None = None, *, training: bool = False) -> list[FitRecord]:
        """Current fits of these people (all when None), in person id order; people without one are left
        out. training=True keeps only converged, non-rejected, non-degenerate fits of usable people (the
        regressor's set: a fit whose verdict is "degenerate" explains nothing, however small its error)."""
        sql = (f"SELECT {', '.join('f.' + c.strip() for c in _FIT_COLUMNS.split(','))} FROM persons p "
               "JOIN fits f ON f.id = p.current_fit_id")
        if training:
            sql += (" WHERE f.status = 'converged' AND f.review_status != 'rejected' AND p.problem IS NULL"
                    " AND p.fit_quality IS NOT 'degenerate'")
        rows = self._conn.execute(sql + " ORDER BY p.id").fetchall()
        if person_ids is not None:
            wanted = {int(p) for p in person_ids}
            rows = [r for r in rows if r[1] in wanted]
        return [self._fit_from_row(r) for r in rows]

    def set_current_fit(self, person_id: int, fit_id: int) -> None:
        """Make one of the person's fits current; the person's review status becomes that fit's."""
        with self.transaction():
            self._person_fit_state(person_id)
            row = self._conn.execute("SELECT person_id FROM fits WHERE id = ?", (int(fit_id),)).fetchone()
            if row is None or row[0] != int(person_id):
                raise ProjectError(f"{self._root}: fit {fit_id} is not a fit of person {person_id}")
            self._make_current(person_id, fit_id)

    # -- reviews -------------------------------------------------------------------------------------------
    def set_review(self, person_id: int, status: str, reason: str = "", fit_id: int | None = None) -> None:
        """Record a decision on one fit (default: the person's current fit; history kept); "cleared" makes
        it unreviewed again. The person's status follows when the fit is current (or it has no fit yet)."""
        if status not in REVIEW_STATUSES:
            raise ValueError(f"review status {status!r}: expected one of {REVIEW_STATUSES}")
        state = "unreviewed" if status == "cleared" else status
        with self.transaction():
            current, _ = self._person_fit_state(person_id)
            fit_id = current if fit_id is None else int(fit_id)
            if fit_id is not None:
                row = self._conn.execute("SELECT person_id FROM fits WHERE id = ?", (fit_id,)).fetchone()
                if row is None or row[0] != int(person_id):
                    raise ProjectError(f"{self._root}: fit {fit_id} is not a fit of person {person_id}")
                self._conn.execute("UPDATE fits SET review_status = ? WHERE id = ?", (state, fit_id))
            if fit_id == current:
                self._conn.execute("UPDATE persons SET status = ? WHERE id = ?", (state, int(person_id)))
            self._conn.execute("INSERT INTO reviews (person_id, status, reason, at, fit_id) VALUES (?, ?, ?, ?, ?)",
                               (int(person_id), status, reason, time.time(), fit_id))

    def review_history(self, person_id: int, fit_id: int | None = None) -> list[ReviewRecord]:
        """The person's decisions, oldest first (only those on fit `fit_id` when given)."""
        sql = "SELECT person_id, status, reason, at, fit_id FROM reviews WHERE person_id = ?"
        args: tuple = (int(person_id),)
        if fit_id is not None:
            sql += " AND fit_id = ?"
            args += (int(fit_id),)
        return [ReviewRecord(*r) for r in self._conn.execute(sql + " ORDER BY id", args).fetchall()]
