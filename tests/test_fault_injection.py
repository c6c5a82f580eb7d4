"""Kill a round at seeded random points (inside a database transaction, or while a file is half written),
resume it, and check that nothing was lost, duplicated or left broken."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from deformlearn.core.project.job_lock import project_job, read_lock
from deformlearn.core.project.store import Project
from deformlearn.core.rounds.loop import run_round
from tests.round_project import make_round_project
from tests.test_rounds import tiny_settings

REPO = Path(__file__).resolve().parents[1]
PEOPLE = 8
KILLS = 3
SEED = 15

# Counts write events (each BEGIN IMMEDIATE, each atomic file write once its bytes are written, before the
# rename) and SIGKILLs itself at event number argv[2] (0: never); prints the number of events at the end.
_CHILD = textwrap.dedent("""
    import os, signal, sys
    from deformlearn.core.files import atomic
    count = [0]
    def tick():
        count[0] += 1
        if count[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)
    real_write = atomic.atomic_write
    def atomic_write(path, write):
        def counted(f):
            f.write(write) if isinstance(write, (bytes, bytearray)) else write(f)
            f.flush()
            tick()
        return real_write(path, counted)
    atomic.atomic_write = atomic_write  # before anything imports it by name
    import torch
    from deformlearn.core.project import store
    from deformlearn.core.project.job_lock import project_job
    from deformlearn.core.rounds.loop import run_round
    from tests.test_rounds import tiny_settings
    real_execute = store.Project._execute_waiting
    def execute(self, statement):
        real_execute(self, statement)
        if statement == "BEGIN IMMEDIATE":
            tick()
    store.Project._execute_waiting = execute
    torch.set_num_threads(1)
    with store.Project.open(sys.argv[1]) as project, project_job(project.root, "round"):
        run_round(project, tiny_settings(), resume=True)
    print(count[0])
""")


def _child(path: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CHILD, str(path), str(kill_at)], capture_output=True, text=True,
                          cwd=REPO, timeout=300, env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": ""})


def _check_consistent(path: Path) -> None:
    with Project.open(path) as project:
        conn = project._conn
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        per_person = conn.execute("SELECT COUNT(*) FROM fits WHERE round_index = 1 GROUP BY person_id").fetchall()
        assert len(per_person) <= PEOPLE and all(n == 1 for (n,) in per_person)  # never registered twice
        assert conn.execute("SELECT COUNT(*) FROM persons").fetchone()[0] == PEOPLE
        assert conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0] <= 1


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("faults") / "project"
    make_round_project(path, n=PEOPLE).close()
    return path


def test_a_round_killed_at_random_points_resumes_to_the_same_counts(tiny_project, tmp_path):
    clean = tmp_path / "clean"
    shutil.copytree(tiny_project, clean)
    done = _child(clean, 0)
    assert done.returncode == 0, done.stderr
    events = int(done.stdout.split()[-1])
    points = sorted(np.random.default_rng(SEED).choice(np.arange(1, events + 1), size=KILLS, replace=False).tolist())
    torch.set_num_threads(1)
    for point in points:
        path = tmp_path / f"killed_at_{point}"
        shutil.copytree(tiny_project, path)
        killed = _child(path, point)
        assert killed.returncode == -signal.SIGKILL, (point, events, killed.stderr)
        assert read_lock(path)["job"] == "round"  # the dead job's lock is left behind...
        _check_consistent(path)
        with Project.open(path) as project, project_job(path, "round"):  # ...and taken over
            record = run_round(project, tiny_settings(), resume=True)
            assert record.finished_at is not None and len(project.fits(1)) == PEOPLE
            assert all(record.stages.get(s) == "done" for s in ("lifting", "registration", "regressor", "evaluation"))
            assert np.isfinite(record.metrics["regressor_mpjpe_mm"])
        _check_consistent(path)
        assert not list(path.rglob(".*.tmp")), f"temp files left after resuming from a kill at event {point}"
