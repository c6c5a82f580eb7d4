"""The project store: round trips, idempotent import, atomicity under SIGKILL, WAL readers, lazy open."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sqlite3

import numpy as np
import pytest

from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.project import schema as project_schema
from deformlearn.core.project import store as project_store
from deformlearn.core.project.store import FitRecord, Project, ProjectError


def _dense(n: int = 30, seed: int = 0) -> DensePoints:
    rng = np.random.default_rng(seed)
    return DensePoints(xy=rng.random((n, 2)) * 100, part=rng.integers(1, 25, n), uv=rng.random((n, 2)))


def _kp(seed: int = 0) -> np.ndarray:
    kp = np.random.default_rng(seed).random((17, 3)).astype(np.float32) * 50
    kp[:, 2] = 2
    kp[3, 2] = 0
    return kp


def _fill(project: Project, n: int, prefix: str = "p") -> list[int]:
    ids = []
    with project.transaction():
        for i in range(n):
            image_id = project.add_image(project.root / f"{prefix}img_{i}.jpg", 64, 48)
            ids.append(project.add_person(image_id, bbox=[1, 2, 30, 40], keypoints=_kp(i), dense=_dense(seed=i),
                                          source_key=f"{prefix}{i}", name=f"person {i}"))
    return ids


def test_create_open_round_trip(tmp_path):
    with Project.create(tmp_path / "proj") as p:
        image_id = p.add_image(tmp_path / "proj" / "a.jpg", 640, 480, iuv_file="/x/a_IUV.png")
        dense = _dense()
        mask = np.zeros((256, 256), np.uint8)
        mask[10:20] = 3
        pid = p.add_person(image_id, bbox=[1, 2, 3, 4], keypoints=_kp(), dense=dense, source_key="k",
                           coarse_mask=mask)
    with Project.open(tmp_path / "proj") as p:
        assert p.template == "builtin"
        r = p.person(pid)
        assert r.image_file == str(tmp_path / "proj" / "a.jpg") and r.image_size == (640, 480)
        assert r.iuv_file == "/x/a_IUV.png"
        np.testing.assert_array_equal(r.dense.xy, dense.xy)
        np.testing.assert_array_equal(r.dense.part, dense.part)
        np.testing.assert_array_equal(r.keypoints, _kp())
        np.testing.assert_array_equal(r.coarse_mask, mask)
        assert r.status == "unreviewed" and r.latest_fit_id is None
        # the image path is stored relative to the project, so a moved project still finds its images
        assert p._conn.execute("SELECT file FROM images").fetchone()[0] == "a.jpg"


def test_open_errors_name_the_path(tmp_path):
    with pytest.raises(ProjectError, match="not a deformlearn project"):
        Project.open(tmp_path)
    Project.create(tmp_path / "p").close()
    with pytest.raises(ProjectError, match="already a project"):
        Project.create(tmp_path / "p")
    conn = sqlite3.connect(tmp_path / "p" / "project.sqlite")
    conn.execute("UPDATE schema_version SET version = ?", (project_schema.SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(ProjectError, match=r"p: project schema version .* is newer"):
        Project.open(tmp_path / "p")
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "project.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ProjectError, match="not a readable project database"):
        Project.open(tmp_path / "q")


def test_same_source_key_adds_nothing_twice(tmp_path):
    with Project.create(tmp_path / "p") as p:
        first = _fill(p, 5)
        second = _fill(p, 5)
        assert all(i is not None for i in first) and second == [None] * 5
        assert p.count_persons() == 5 and p.summary()["images"] == 5


def test_transaction_rolls_back_and_nests(tmp_path):
    with Project.create(tmp_path / "p") as p:
        with pytest.raises(RuntimeError):
            with p.transaction():
                _fill(p, 3)  # nested transaction joins the outer one
                raise RuntimeError("boom")
        assert p.count_persons() == 0 and p.summary()["images"] == 0
        _fill(p, 2)
        assert p.count_persons() == 2


def test_fits_reviews_rounds_ground_truth(tmp_path):
    with Project.create(tmp_path / "p") as p:
        ids = _fill(p, 4)
        params = {"pose": np.zeros((23, 3), np.float32), "scales": np.ones(24, np.float32),
                  "rotation": np.eye(3, dtype=np.float32), "scale": np.array(1.5, np.float32),
                  "translation": np.zeros(2, np.float32)}
        fit_ids = p.save_fits([FitRecord(i, 1, params, {"error": float(k)}, "converged") for k, i in enumerate(ids)])
        p.save_fits([FitRecord(ids[0], 2, params, {"error": 9.0}, "failed")])
        latest = p.latest_fit(ids[0])
        assert latest.round_index == 2 and latest.status == "failed"
        assert p.latest_fit(ids[0], round_index=1).id == fit_ids[0]
        np.testing.assert_array_equal(latest.params["rotation"], np.eye(3))
        assert latest.params["scale"].shape == ()
        assert [f.person_id for f in p.fits(1)] == ids and len(p.fits(2)) == 1
        assert p.person(ids[0]).latest_fit_id == latest.id

        p.set_review(ids[1], "accepted")
        p.set_review(ids[2], "rejected", "arm flipped")
        p.set_review(ids[2], "cleared")
        p.set_review(ids[3], "rejected", "bad box")
        assert [h.status for h in p.review_history(ids[2])] == ["rejected", "cleared"]
        assert p.review_history(ids[2])[0].reason == "arm flipped"
        assert p.person(ids[2]).status == "unreviewed"
        assert list(p.person_ids(status="rejected")) == [ids[3]]
        assert p.count_persons(status="accepted") == 1
        with pytest.raises(ValueError, match="review status"):
            p.set_review(ids[0], "maybe")

        rows = p.list_persons(offset=0, limit=10, order_by="error", descending=True, max_error=2.5)
        assert [r.id for r in rows] == [ids[2], ids[1]]
        assert [r.id for r in p.list_persons(search="person 3")] == [ids[3]]
        assert [r.id for r in p.list_persons(limit=2, offset=1)] == ids[1:3]
        with pytest.raises(ValueError, match="order_by"):
            p.list_persons(order_by="id; DROP TABLE persons")

        p.set_ground_truth(ids[0], {"pose": np.ones((23, 3)), "joints3d": np.zeros((24, 3))})
        assert p.ground_truth(ids[0])["pose"].shape == (23, 3) and p.ground_truth(ids[1]) is None
        p.set_correspondences(ids[0], "tiny", np.arange(30), np.full(30, 0.01))
        vi, res = p.correspondences(ids[0], "tiny")
        assert vi.dtype == np.int64 and res.dtype == np.float32 and p.correspondences(ids[0], "other") is None

        p.start_round(1)
        p.update_round(1, stages={"lift": "done"}, models={"regressor": "models/r1.pt"})
        p.update_round(1, stages={"register": "running"}, metrics={"mpjpe": 110.0}, finished=True)
        (r,) = p.rounds()
        assert r.stages == {"lift": "done", "register": "running"} and r.finished_at is not None
        s = p.summary()
        assert (s["persons"], s["fitted"], s["failed"], s["accepted"], s["rejected"], s["rounds"]) == (4, 3, 1, 1, 1, 1)


def test_arrays_are_written_atomically_and_stay_inside(tmp_path):
    with Project.create(tmp_path / "p") as p:
        a = np.arange(12, dtype=np.float32).reshape(3, 4)
        path = p.write_array("round1/vertices", a)
        np.testing.assert_array_equal(p.read_array("round1/vertices"), a)
        assert path.parent == tmp_path / "p" / "arrays" / "round1"
        assert [f.name for f in path.parent.iterdir()] == ["vertices.npy"]  # no temp file left over
        with pytest.raises(ValueError, match="stay under"):
            p.write_array("../escape", a)
        with pytest.raises(ProjectError, match="no such array"):
            p.read_array("missing")


def _writer(path: str, ready, n_committed: int) -> None:
    p = Project.open(path)
    _fill(p, n_committed, prefix="committed")
    with p.transaction():
        for i in range(100_000):
            image_id = p.add_image(f"/big/{i}.jpg", 10, 10)
            p.add_person(image_id, bbox=[0, 0, 1, 1], keypoints=np.zeros((17, 3)), dense=_dense(5, i),
                         source_key=f"open{i}")
            if i == 2000:
                ready.set()


def test_killed_writer_leaves_no_partial_rows(tmp_path):
    Project.create(tmp_path / "p").close()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_writer, args=(str(tmp_path / "p"), ready, 7))
    proc.start()
    assert ready.wait(60), "writer never got going"
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    with Project.open(tmp_path / "p") as p:
        assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert p.count_persons() == 7 and p.summary()["images"] == 7
        assert p._conn.execute("SELECT COUNT(*) FROM dense").fetchone()[0] == 7
        assert p.add_person(1, bbox=[0, 0, 1, 1], keypoints=np.zeros((17, 3)), dense=None, source_key="after")


def test_reader_sees_committed_state_while_writer_writes(tmp_path):
    with Project.create(tmp_path / "p") as writer:
        _fill(writer, 3)
        with Project.open(tmp_path / "p", readonly=True) as reader:
            with writer.transaction():
                _fill(writer, 4, prefix="new")
                assert reader.count_persons() == 3  # not blocked, sees the last commit
                with Project.open(tmp_path / "p") as second_writer:  # opening writable does not block either
                    assert second_writer.count_persons() == 3
                assert len(reader.list_persons()) == 3
            assert reader.count_persons() == 7
            with pytest.raises(ProjectError, match="read-only"):
                with reader.transaction():
                    pass


def test_open_reads_nothing_per_person(tmp_path, monkeypatch):
    with Project.create(tmp_path / "p") as p:
        _fill(p, 50)
    statements: list[str] = []
    real_connect = sqlite3.connect

    def tracing_connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(project_store.sqlite3, "connect", tracing_connect)
    with Project.open(tmp_path / "p") as p:
        assert statements, "trace callback saw nothing"
        tables = ("persons", "images", "dense", "fits", "correspondences", "reviews")
        assert not [s for s in statements if any(t in s for t in tables)]
        assert p.count_persons() == 50


def test_update_annotation_replaces_points_and_recomputes_correspondences(tmp_path, builtin_template):
    from deformlearn.core.densepose.correspondence import map_to_vertices, template_key

    key = template_key(builtin_template)
    with Project.create(tmp_path / "proj") as p:
        pid, other = _fill(p, 2)
        p.set_correspondences(pid, key, np.zeros(30, np.int64), np.zeros(30, np.float32))
        p.set_correspondences(pid, "other-template", np.zeros(30, np.int64), np.zeros(30, np.float32))
        p.set_correspondences(other, key, np.ones(30, np.int64), np.zeros(30, np.float32))
        kp = _kp(7)
        kp[:5, 2] = 0
        p.update_annotation(pid, keypoints=kp)  # keypoints only: points and correspondences untouched
        np.testing.assert_array_equal(p.person(pid).keypoints, kp)
        assert p.list_persons()[0].num_keypoints == 12
        assert p.correspondences(pid, "other-template") is not None

        new = _dense(12, seed=5)
        p.update_annotation(pid, dense=new)
        rec = p.person(pid)
        np.testing.assert_array_equal(rec.dense.xy, new.xy)
        np.testing.assert_array_equal(rec.keypoints, kp)
        assert p.list_persons()[0].num_points == 12
        vertex, residual = p.correspondences(pid, key)
        want_v, want_r = map_to_vertices(builtin_template, new.part, new.uv)
        np.testing.assert_array_equal(vertex, want_v)
        np.testing.assert_allclose(residual, want_r)
        assert p.correspondences(pid, "other-template") is None  # cannot be recomputed here: dropped
        np.testing.assert_array_equal(p.correspondences(other, key)[0], np.ones(30))  # other people untouched

        p.update_annotation(pid, dense=_dense(0))
        assert p.person(pid).dense is None and p.correspondences(pid, key) is None
        assert p.list_persons()[0].num_points == 0


def test_update_annotation_rejects_bad_input_and_is_atomic(tmp_path):
    with Project.create(tmp_path / "proj") as p:
        (pid,) = _fill(p, 1)
        with pytest.raises(ValueError, match="keypoints shape"):
            p.update_annotation(pid, keypoints=np.zeros((16, 3)))
        with pytest.raises(ValueError, match="DensePoints"):
            p.update_annotation(pid, dense=np.zeros((4, 2)))
        with pytest.raises(ProjectError, match="no person 99"):
            p.update_annotation(99, keypoints=_kp())
        with pytest.raises(RuntimeError), p.transaction():
            p.update_annotation(pid, keypoints=_kp(3), dense=_dense(5, seed=3))
            raise RuntimeError("interrupted")
        rec = p.person(pid)
        np.testing.assert_array_equal(rec.keypoints, _kp(0))
        assert len(rec.dense) == 30 and p.list_persons()[0].num_points == 30


def test_fit_status_filter_follows_the_latest_fit(tmp_path):
    with Project.create(tmp_path / "proj") as p:
        ids = _fill(p, 6)
        p.save_fits([FitRecord(ids[0], 0, {"x": np.zeros(1)}, {"error": 3.0}, "converged"),
                     FitRecord(ids[1], 0, {"x": np.zeros(1)}, {"error": 9.0}, "failed"),
                     FitRecord(ids[2], 0, {"x": np.zeros(1)}, {"error": 1.0}, "failed")])
        p.save_fits([FitRecord(ids[2], 1, {"x": np.zeros(1)}, {"error": 2.0}, "converged")])  # refit succeeded
        p.set_review(ids[0], "accepted")
        p.set_review(ids[3], "accepted")
        assert p.count_persons(fit_status="fitted") == 2 and p.count_persons(fit_status="failed") == 1
        assert p.count_persons(fit_status="unfitted") == 3
        assert [r.id for r in p.list_persons(fit_status="fitted", order_by="error")] == [ids[2], ids[0]]
        assert [r.id for r in p.list_persons(fit_status="failed")] == [ids[1]]
        assert [r.id for r in p.list_persons(fit_status="unfitted", descending=True)] == ids[:2:-1]
        assert [r.id for r in p.list_persons(fit_status="fitted", status="accepted")] == [ids[0]]
        assert p.count_persons(fit_status="unfitted", status="accepted") == 1
        assert p.person_ids(fit_status="failed").tolist() == [ids[1]]
        assert p.list_persons(fit_status="fitted", max_error=2.5)[0].id == ids[2]
        with pytest.raises(ValueError, match="fit_status 'converged'"):
            p.count_persons(fit_status="converged")


def _old_project(path, version: int) -> sqlite3.Connection:
    """A project database at schema `version`, as that release wrote it (its migrations only)."""
    path.mkdir(parents=True)
    conn = sqlite3.connect(path / "project.sqlite", isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for sql in project_schema.MIGRATIONS[:version]:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
    conn.execute("INSERT INTO meta VALUES ('template', 'builtin')")
    return conn


def test_migrations_after_the_read_only_floor_leave_the_tables_as_they_are():
    # a read-only open reads schemas from READABLE_FROM on as they are: later migrations may change values and
    # indexes only (a new table or column would be missing from such a project)
    for sql in project_schema.MIGRATIONS[project_schema.READABLE_FROM:]:
        assert not any(word in sql.upper() for word in ("CREATE TABLE", "ALTER TABLE", "DROP TABLE")), sql


def test_version_1_project_gains_the_fit_filter_index(tmp_path):
    _old_project(tmp_path / "p", 1).close()
    with pytest.raises(ProjectError, match="needs migrating"):
        Project.open(tmp_path / "p", readonly=True)
    with Project.open(tmp_path / "p") as p:
        plan = p._conn.execute("EXPLAIN QUERY PLAN SELECT id FROM persons p WHERE p.fit_status = 'failed' "
                               "ORDER BY p.fit_error DESC, p.id DESC LIMIT 10").fetchall()
    assert project_schema.read_schema_version(sqlite3.connect(tmp_path / "p" / "project.sqlite")) == \
        project_schema.SCHEMA_VERSION
    assert "persons_fit_status_error" in str(plan) and "TEMP B-TREE" not in str(plan)


def test_store_modules_are_small_and_free_of_import_cycles():
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(project_store.__file__).parent
    sizes = {f.name: len(f.read_text().splitlines()) for f in folder.glob("*.py")}
    assert max(sizes.values()) < 400, sizes
    code = "import sys, deformlearn.core.project.store; print('deformlearn.core.project.importing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # the store no longer imports the importer (which imports the store)


def _params(x: float) -> dict:
    return {"pose": np.full((23, 3), x, np.float32)}


def test_a_later_fit_never_takes_an_accepted_decision(tmp_path):
    with Project.create(tmp_path / "p") as p:
        a, b, c = _fill(p, 3)
        (f1,) = p.save_fits([FitRecord(a, 1, _params(1), {"error": 2.0}, "converged", settings={"steps": 300})])
        p.set_review(a, "accepted", "looks right")
        (f2,) = p.save_fits([FitRecord(a, 2, _params(2), {"error": 1.0}, "converged")])
        history = p.fit_history(a)
        assert [f.id for f in history] == [f1, f2] and [f.review_status for f in history] == ["accepted", "unreviewed"]
        assert history[0].settings == {"steps": 300} and history[1].round_index == 2
        assert p.current_fit(a).id == f1 and p.latest_fit(a).id == f2
        assert p.person(a).status == "accepted" and p.person(a).current_fit_id == f1
        assert [(f.person_id, f.id) for f in p.current_fits(training=True)] == [(a, f1)]
        assert p.list_persons()[0].fit_error == 2.0  # the list shows the current fit

        p.set_current_fit(a, f2)  # the user prefers the newer fit: it is unreviewed
        assert p.person(a).status == "unreviewed" and p.list_persons()[0].fit_error == 1.0
        p.set_review(a, "rejected", "arm flipped")
        assert [r.status for r in p.review_history(a, fit_id=f2)] == ["rejected"]
        assert [r.fit_id for r in p.review_history(a)] == [f1, f2]
        assert p.fit(f1).review_status == "accepted" and p.current_fits(training=True) == []
        p.set_current_fit(a, f1)
        assert p.person(a).status == "accepted"

        (fb,) = p.save_fits([FitRecord(b, 1, _params(0), {"error": 3.0}, "converged")])
        (fb2,) = p.save_fits([FitRecord(b, 2, _params(0), {"error": 4.0}, "failed")])
        assert p.current_fit(b).id == fb2 and p.person_ids(fit_status="failed").tolist() == [b]  # newest
        p.set_review(c, "rejected", "bad box")  # a decision before any fit passes to the first fit
        (fc,) = p.save_fits([FitRecord(c, 1, _params(0), {"error": 1.0}, "converged")])
        assert p.fit(fc).review_status == "rejected" and p.person(c).status == "rejected"
        (fc2,) = p.save_fits([FitRecord(c, 2, _params(0), {"error": 1.0}, "converged")], make_current=True)
        assert p.current_fit(c).id == fc2 and p.person(c).status == "unreviewed"
        with pytest.raises(ProjectError, match="not a fit of person"):
            p.set_current_fit(a, fb)
        with pytest.raises(ProjectError, match="not a fit of person"):
            p.set_review(a, "accepted", fit_id=fb)
        s = p.summary()
        assert (s["accepted"], s["fitted"], s["failed"]) == (1, 2, 1)


def test_version_2_project_keeps_its_people_fits_and_decisions(tmp_path):
    conn = _old_project(tmp_path / "p", 2)
    conn.execute("INSERT INTO images (id, file, width, height) VALUES (1, 'a.jpg', 64, 48)")
    from deformlearn.core.project.records import array_to_blob
    conn.execute("INSERT INTO persons (id, image_id, source_key, bbox, keypoints, status, latest_fit_id, fit_status, "
                 "fit_error, created_at) VALUES (1, 1, 'a.json#ann=1', ?, ?, 'accepted', 2, 'converged', 1.5, 0)",
                 (array_to_blob(np.array([1, 2, 30, 40], np.float32)), array_to_blob(_kp())))
    for fid, at in ((1, 10.0), (2, 20.0)):
        conn.execute("INSERT INTO fits (id, person_id, round_index, params, metrics, status, created_at) "
                     "VALUES (?, 1, ?, ?, '{\"error\": 1.5}', 'converged', ?)", (fid, fid, b"", at))
    conn.execute("INSERT INTO reviews (person_id, status, reason, at) VALUES (1, 'accepted', '', 25.0)")
    conn.execute("INSERT INTO dense (person_id, xy, part, uv) VALUES (1, ?, ?, ?)",
                 (array_to_blob(np.zeros((1, 2), np.float32)), array_to_blob(np.ones(1, np.int64)),
                  array_to_blob(np.zeros((1, 2), np.float32))))
    conn.close()
    with Project.open(tmp_path / "p") as p:
        assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert p._conn.execute("SELECT COUNT(*) FROM dense").fetchone()[0] == 1  # the rebuild cascaded nothing
        r = p.person(1)
        assert (r.status, r.current_fit_id, r.latest_fit_id) == ("accepted", 2, 2)
        assert p._conn.execute("SELECT review_status FROM fits ORDER BY id").fetchall() == [("unreviewed",), ("accepted",)]
        assert [h.fit_id for h in p.review_history(1)] == [2]
        image = p.add_image(tmp_path / "p" / "a.jpg", 64, 48)
        # the same source key in a project from before content identity is still the same person
        assert p.add_person(image, bbox=[1, 2, 30, 40], keypoints=_kp(), dense=None, source_key="a.json#ann=1") is None


def test_keypoint_only_fits_have_no_error_and_sort_last_also_in_older_projects(tmp_path):
    kp_only = {"error": 0.0, "num_points": 0.0, "quality": "good"}  # what core stores for a keypoints-only fit
    with Project.create(tmp_path / "p") as p:
        a, b, c, d = _fill(p, 4)
        p.save_fits([FitRecord(a, 1, {}, {"error": 3.0, "num_points": 30.0, "quality": "good"}, "converged"),
                     FitRecord(b, 1, {}, kp_only, "converged"),
                     FitRecord(c, 1, {}, {"error": 1.0}, "converged")])  # c: a fit from before num_points
        assert [r.fit_error for r in p.list_persons()] == [3.0, None, 1.0, None]
        assert [r.id for r in p.list_persons(order_by="error")] == [c, a, b, d]  # no error: last
        assert [r.id for r in p.list_persons(order_by="error", descending=True)] == [a, c, d, b]
        assert [r.id for r in p.list_persons(max_error=5.0)] == [a, c]
    # the same project as schema 4 wrote it: the keypoints-only fit's 0 px in the list, the older index
    conn = sqlite3.connect(tmp_path / "p" / "project.sqlite", isolation_level=None)
    conn.execute("UPDATE persons SET fit_error = 0.0 WHERE id = ?", (b,))
    conn.execute("DROP INDEX persons_error_rank")
    conn.execute("CREATE INDEX persons_error_rank ON persons((fit_quality IS 'degenerate'), fit_error)")
    conn.execute("UPDATE schema_version SET version = 4")
    conn.close()
    with Project.open(tmp_path / "p", readonly=True) as p:  # read as it is: info, draw and export work
        assert [r.fit_error for r in p.list_persons()] == [3.0, 0.0, 1.0, None]
        assert p.latest_fit(b).metrics["num_points"] == 0.0
    assert project_schema.read_schema_version(sqlite3.connect(tmp_path / "p" / "project.sqlite")) == 4
    with Project.open(tmp_path / "p") as p:
        assert project_schema.read_schema_version(p._conn) == project_schema.SCHEMA_VERSION
        assert [r.fit_error for r in p.list_persons()] == [3.0, None, 1.0, None]
        assert [r.id for r in p.list_persons(order_by="error")] == [c, a, b, d]
        assert p.latest_fit(b).metrics["error"] == 0.0  # the fit itself keeps what was measured
