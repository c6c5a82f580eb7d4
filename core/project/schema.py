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

MIGRATIONS: tuple[str, ...] = (_V1, _V2)
SCHEMA_VERSION = len(MIGRATIONS)


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

    `conn` must be in autocommit mode (isolation_level=None) and outside a transaction.
    """
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
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
