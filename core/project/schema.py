"""The project database schema: its SQL, its version, and the migrations that bring older projects up.

`MIGRATIONS[i]` takes a database at version i to version i + 1; a new project runs them all. To change the
schema, append a migration (never edit a released one) — SCHEMA_VERSION follows from the list's length.
"""

from __future__ import annotations

import sqlite3

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL UNIQUE,          -- relative to the project folder, or absolute
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    iuv_file TEXT,
    inds_file TEXT
);

CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    name TEXT,
    source_key TEXT NOT NULL UNIQUE,
    bbox BLOB NOT NULL,                 -- npy (4,) float32 x, y, w, h pixels
    keypoints BLOB NOT NULL,            -- npy (17, 3) float32 x, y pixels + visibility
    num_points INTEGER NOT NULL DEFAULT 0,
    num_keypoints INTEGER NOT NULL DEFAULT 0,
    score REAL,
    status TEXT NOT NULL DEFAULT 'unreviewed' CHECK (status IN ('unreviewed', 'accepted', 'rejected')),
    latest_fit_id INTEGER,
    fit_status TEXT,
    fit_error REAL,
    created_at REAL NOT NULL
);
CREATE INDEX persons_image ON persons(image_id);
CREATE INDEX persons_status ON persons(status, id);
CREATE INDEX persons_fit_error ON persons(fit_error);
CREATE INDEX persons_fit_status ON persons(fit_status);
CREATE INDEX persons_num_points ON persons(num_points);
CREATE INDEX persons_name ON persons(name);

CREATE TABLE dense (
    person_id INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    xy BLOB NOT NULL,                   -- npy (N, 2) float32 pixels
    part BLOB NOT NULL,                 -- npy (N,) int64 1..24
    uv BLOB NOT NULL,                   -- npy (N, 2) float32 [0, 1]
    coarse_mask BLOB                    -- npy (256, 256) uint8 0..14 over the box, optional
);

CREATE TABLE correspondences (
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    template_key TEXT NOT NULL,
    vertex_index BLOB NOT NULL,         -- npy (N,) int64
    residual BLOB NOT NULL,             -- npy (N,) float32 UV distance
    PRIMARY KEY (person_id, template_key)
);

CREATE TABLE ground_truth (
    person_id INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    arrays BLOB NOT NULL                -- npz of named arrays
);

CREATE TABLE fits (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    round_index INTEGER NOT NULL,
    params BLOB NOT NULL,               -- npz of named arrays
    metrics TEXT NOT NULL,              -- json object name -> float
    status TEXT NOT NULL CHECK (status IN ('converged', 'failed')),
    created_at REAL NOT NULL
);
CREATE INDEX fits_person ON fits(person_id, round_index, id);
CREATE INDEX fits_round ON fits(round_index, person_id);

CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('accepted', 'rejected', 'cleared')),
    reason TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL
);
CREATE INDEX reviews_person ON reviews(person_id, id);

CREATE TABLE rounds (
    idx INTEGER PRIMARY KEY,
    stages TEXT NOT NULL DEFAULT '{}',  -- json stage name -> state
    models TEXT NOT NULL DEFAULT '{}',  -- json name -> file path relative to the project
    metrics TEXT NOT NULL DEFAULT '{}', -- json name -> value
    started_at REAL,
    finished_at REAL
);
"""

# The people list's fit-status filter pages by error: (fit_status, fit_error) serves it without sorting.
_V2 = """
CREATE INDEX persons_fit_status_error ON persons(fit_status, fit_error);
"""

# Content identity (persons.content_key replaces the unique source_key), people marked unusable (problem),
# fit history (current_fit_id; each fit's settings and review status; a review names its fit). SQLite
# cannot drop a UNIQUE constraint, so persons is rebuilt (migrate runs with foreign keys off).
_V3 = """
CREATE TABLE persons_v3 (
    id INTEGER PRIMARY KEY,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    name TEXT,
    source_key TEXT NOT NULL,           -- where the person came from ("file.json#ann=7"), not an identity
    content_key TEXT UNIQUE,            -- image digest + annotation digest, NULL for people of older projects
    bbox BLOB NOT NULL,
    keypoints BLOB NOT NULL,
    num_points INTEGER NOT NULL DEFAULT 0,
    num_keypoints INTEGER NOT NULL DEFAULT 0,
    score REAL,
    status TEXT NOT NULL DEFAULT 'unreviewed' CHECK (status IN ('unreviewed', 'accepted', 'rejected')),
    latest_fit_id INTEGER,
    current_fit_id INTEGER,             -- the fit status, fit_status and fit_error mirror
    fit_status TEXT,
    fit_error REAL,
    problem TEXT,                       -- why the person's data is unusable (mark_failed), else NULL
    created_at REAL NOT NULL
);
INSERT INTO persons_v3 (id, image_id, name, source_key, content_key, bbox, keypoints, num_points, num_keypoints,
    score, status, latest_fit_id, current_fit_id, fit_status, fit_error, problem, created_at)
    SELECT id, image_id, name, source_key, NULL, bbox, keypoints, num_points, num_keypoints, score, status,
    latest_fit_id, latest_fit_id, fit_status, fit_error, NULL, created_at FROM persons;
DROP TABLE persons;
ALTER TABLE persons_v3 RENAME TO persons;
CREATE INDEX persons_image ON persons(image_id);
CREATE INDEX persons_status ON persons(status, id);
CREATE INDEX persons_fit_error ON persons(fit_error);
CREATE INDEX persons_fit_status ON persons(fit_status);
CREATE INDEX persons_fit_status_error ON persons(fit_status, fit_error);
CREATE INDEX persons_num_points ON persons(num_points);
CREATE INDEX persons_name ON persons(name);
CREATE INDEX persons_source_key ON persons(source_key);
ALTER TABLE images ADD COLUMN content_hash TEXT;
ALTER TABLE fits ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE fits ADD COLUMN review_status TEXT NOT NULL DEFAULT 'unreviewed'
    CHECK (review_status IN ('unreviewed', 'accepted', 'rejected'));
ALTER TABLE reviews ADD COLUMN fit_id INTEGER REFERENCES fits(id) ON DELETE SET NULL;
UPDATE reviews SET fit_id = (SELECT MAX(f.id) FROM fits f WHERE f.person_id = reviews.person_id
    AND f.created_at <= reviews.at);
UPDATE fits SET review_status = (SELECT p.status FROM persons p WHERE p.current_fit_id = fits.id)
    WHERE id IN (SELECT current_fit_id FROM persons WHERE current_fit_id IS NOT NULL)
"""

# The verdict of the current fit (its metrics' "quality": good / poor / degenerate, NULL for fits judged before
# the verdict existed), mirrored so that the people list filters by it and sorts degenerate fits apart.
_V4 = """
ALTER TABLE persons ADD COLUMN fit_quality TEXT;
UPDATE persons SET fit_quality = (SELECT json_extract(f.metrics, '$.quality') FROM fits f
    WHERE f.id = persons.current_fit_id) WHERE current_fit_id IS NOT NULL;
CREATE INDEX persons_error_rank ON persons((fit_quality IS 'degenerate'), fit_error)
"""

# A current fit to keypoints alone (no dense points: its metrics' num_points is 0) has no dense error: its
# stored 0 px put such people first in the error sort. Their fit_error becomes NULL, and the error sort lists
# people without an error last in either direction (the index serves that order).
_V5 = """
UPDATE persons SET fit_error = NULL WHERE current_fit_id IN (SELECT f.id FROM fits f
    WHERE json_extract(f.metrics, '$.num_points') = 0);
DROP INDEX persons_error_rank;
CREATE INDEX persons_error_rank ON persons((fit_error IS NULL), (fit_quality IS 'degenerate'), fit_error)
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)
SCHEMA_VERSION = len(MIGRATIONS)

#: The oldest schema that a read-only open reads as it is: the migrations after it change only derived values
#: and indexes (v5: fit_error NULL for keypoint-only fits), so the tables and columns the code reads are there.
READABLE_FROM = 4


def read_schema_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the database; 0 for a database with no schema yet."""
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION inside one transaction; return the version it had.

    `conn` must be in autocommit mode (isolation_level=None) and outside a transaction. Foreign keys are off
    while it runs (a table rebuild must not cascade) and checked before the commit.
    """
    foreign_keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        return _migrate(conn)
    finally:
        conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")


def _migrate(conn: sqlite3.Connection) -> int:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = read_schema_version(conn)
        if version == 0:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        for sql in MIGRATIONS[version:]:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("DELETE FROM schema_version")
        conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise sqlite3.IntegrityError(f"migration to schema {SCHEMA_VERSION} broke foreign keys: {broken[:5]}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:  # SQLite rolls back by itself after some errors (a full disk)
            conn.execute("ROLLBACK")
        raise
    return version
