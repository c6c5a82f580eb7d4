"""Nothing lost, nothing wrong presented as right: identity of imported people, unusable people, a busy
database, the project lock, read-only projects, rejected templates, one-line errors, leftover temp files."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from deformlearn.core.densepose.records import DensePoints, PersonAnnotation
from deformlearn.core.files.atomic import atomic_write
from deformlearn.core.project.importing import import_people
from deformlearn.core.project.job_lock import LOCK_NAME, project_job, read_lock
from deformlearn.core.project.records import FitRecord, ProjectBusy, ProjectError
from deformlearn.core.project.store import Project

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "deformlearn.core.cli"]


def _kp(seed: int = 0) -> np.ndarray:
    kp = np.random.default_rng(seed).random((17, 3)).astype(np.float32) * 50
    kp[:, 2] = 2
    return kp


def _dense(seed: int = 0) -> DensePoints:
    rng = np.random.default_rng(seed)
    return DensePoints(xy=rng.random((20, 2)) * 50, part=rng.integers(1, 25, 20), uv=rng.random((20, 2)))


def _annotation(image: Path, key: str, seed: int = 0, keypoints: np.ndarray | None = None) -> PersonAnnotation:
    return PersonAnnotation(image_file=str(image), image_size=(64, 64), bbox=np.array([1, 2, 40, 50]),
                            keypoints=_kp(seed) if keypoints is None else keypoints, dense=_dense(seed), source_key=key)


def _frames(folder: Path, n: int, salt: int) -> list[Path]:
    """n PNG frames named frame_0000.png... whose pixels depend on `salt` (two videos, same frame names)."""
    import cv2

    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        paths.append(folder / f"frame_{i:04d}.png")
        cv2.imwrite(str(paths[-1]), np.full((64, 64, 3), (salt * 10 + i) % 256, np.uint8))
    return paths


def _project_with_people(path: Path, n: int = 3) -> Project:
    project = Project.create(path)
    frames = _frames(path / "frames", n, salt=0)
    import_people(project, [_annotation(f, f"a.json#ann={i}", seed=i) for i, f in enumerate(frames)], None)
    return project


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temp_files_of_killed_writers_are_removed_when_the_folder_is_next_written(tmp_path):
    folder = tmp_path / "models" / "round_001"
    code = ("import os, signal, sys; from deformlearn.core.files.atomic import atomic_write; "
            "atomic_write(sys.argv[1], lambda f: (f.write(b'x' * 1000), os.kill(os.getpid(), signal.SIGKILL)))")
    proc = subprocess.run([sys.executable, "-c", code, str(folder / "regressor.ckpt")])
    assert proc.returncode == -signal.SIGKILL
    left = list(folder.glob(".regressor.ckpt.*.tmp"))
    assert len(left) == 1 and not (folder / "regressor.ckpt").exists()
    unnamed_old = folder / ".person_1.glb.abcd_123.tmp"  # an older version's name, without the pid
    unnamed_old.write_bytes(b"y")
    os.utime(unnamed_old, (time.time() - 7200, time.time() - 7200))
    live = folder / f".other.npy.{os.getpid()}.abcdefgh.tmp"  # this process is alive: never removed
    live.write_bytes(b"z")
    atomic_write(folder / "regressor.pt", b"model")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["regressor.pt", live.name])


def test_people_are_identified_by_image_bytes_and_annotation_not_file_names(tmp_path):
    with Project.create(tmp_path / "p") as project:
        first = _frames(tmp_path / "video1", 4, salt=1)
        second = _frames(tmp_path / "video2", 4, salt=2)
        # the same annotation file name and ids, the same boxes and points: only the pixels differ
        report = import_people(project, [_annotation(f, f"ann.json#ann={i}", seed=i) for i, f in enumerate(first)], None)
        assert report.added == 4
        report = import_people(project, [_annotation(f, f"ann.json#ann={i}", seed=i) for i, f in enumerate(second)], None)
        assert (report.added, report.already_present) == (4, 0)  # was: added 0 (4 were already there)
        again = import_people(project, [_annotation(f, f"ann.json#ann={i}", seed=i) for i, f in enumerate(first)], None)
        assert (again.added, again.already_present) == (0, 4)
        # another COCO file of the same name: other people on the same images are added
        other = import_people(project, [_annotation(f, f"ann.json#ann={i}", seed=10 + i) for i, f in enumerate(first)],
                              None)
        assert other.added == 4 and project.count_persons() == 12


def test_the_same_people_under_other_file_names_add_no_images(tmp_path, shared_data):
    import shutil

    from deformlearn.core.densepose.readers import read_people

    with Project.create(tmp_path / "p") as project:
        frames = _frames(tmp_path / "video", 3, salt=1)
        import_people(project, [_annotation(f, f"a#{i}", seed=i) for i, f in enumerate(frames)], None)
        shutil.copytree(tmp_path / "video", tmp_path / "copy")  # the same bytes under other paths
        copies = sorted((tmp_path / "copy").iterdir())
        report = import_people(project, [_annotation(f, f"b#{i}", seed=i) for i, f in enumerate(copies)], None)
        # was: added 0 people but 3 more images ("3 people on 6 images")
        assert (report.added, report.images, project.summary()["images"]) == (0, 0, 3)
        demo = shared_data / "densepose" / "demo_dp_single_ann.pkl"
        resaved = tmp_path / "resaved.pkl"
        resaved.write_bytes(pickle.dumps(pickle.loads(demo.read_bytes(), encoding="latin1"), protocol=2))
        import_people(project, read_people("densepose-pickle", demo), None)
        import_people(project, read_people("densepose-pickle", resaved), None)  # its crop under another name
        assert project.summary()["images"] == 4 and project.count_persons() == 4
        assert sorted(p.name for p in (project.root / "images").iterdir()) == ["demo_dp_single_ann_ICrop.png"]


def test_keypoints_that_overflow_float32_are_refused_at_import_naming_the_annotation(tmp_path):
    with Project.create(tmp_path / "p") as project:
        frames = _frames(tmp_path / "f", 2, salt=0)
        bad = _kp(1).astype(np.float64)
        bad[5, 0] = 1e39  # finite as float64, inf as the float32 the project stores
        people = [_annotation(frames[0], "coco.json#ann=1"), _annotation(frames[1], "coco.json#ann=2", keypoints=bad)]
        with pytest.raises(ValueError, match=r"coco\.json#ann=2: keypoints hold non-finite values .*rows \[5\]"):
            import_people(project, people, None)
        assert project.count_persons() == 0  # checked before anything was written


def test_a_person_marked_failed_is_left_out_until_its_annotation_is_edited(tmp_path, capsys):
    with _project_with_people(tmp_path / "p") as project:
        ids = project.person_ids()
        project.mark_failed(int(ids[1]), "keypoints_2d: non-finite coordinates")
        assert project.person_ids(usable_only=True).tolist() == [ids[0], ids[2]]
        assert project.failed_people() == {int(ids[1]): "keypoints_2d: non-finite coordinates"}
        assert project.summary()["unusable"] == 1 and project.person(int(ids[1])).problem.startswith("keypoints")
        from deformlearn.core.cli import main

        assert main(["info", str(project.root)]) == 0
        assert "unusable  1 left out of rounds (keypoints_2d: non-finite coordinates)" in capsys.readouterr().out
        project.update_annotation(int(ids[1]), keypoints=_kp(5))
        assert project.person_ids(usable_only=True).tolist() == ids.tolist()
        with pytest.raises(ProjectError, match="no person 999"):
            project.mark_failed(999, "x")


def test_a_busy_database_makes_the_writer_wait_and_keep_its_fits(tmp_path):
    import sqlite3

    with _project_with_people(tmp_path / "p") as project:
        pid = int(project.person_ids()[0])
        project.busy_timeout_s = 0.2
        messages: list[str] = []
        project.on_busy = messages.append
        other = sqlite3.connect(tmp_path / "p" / "project.sqlite", isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock (a long import)
        release = threading.Timer(1.5, lambda: other.execute("COMMIT"))
        release.start()
        fits = [FitRecord(pid, 1, {"pose": np.zeros((23, 3), np.float32)}, {"error": float(k)}, "converged")
                for k in range(40)]
        ids = project.save_fits(fits)  # was: OperationalError: database is locked, the 40 fits lost
        release.join()
        other.close()
        assert len(ids) == 40 and len(project.fit_history(pid)) == 40
        assert messages and "another process is writing" in messages[0] and "project.sqlite" in messages[0]

        project.max_busy_wait_s = 0.3
        holder = sqlite3.connect(tmp_path / "p" / "project.sqlite", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(ProjectBusy, match="still locked by another process"):
            project.save_fits(fits[:1])
        holder.execute("ROLLBACK")
        holder.close()


def test_one_long_job_per_project_and_stale_locks_are_taken_over(tmp_path):
    Project.create(tmp_path / "p").close()
    with project_job(tmp_path / "p", "round") as mine:
        assert read_lock(tmp_path / "p") == mine and mine["pid"] == os.getpid()
        with pytest.raises(ProjectBusy, match=rf"a round \(PID {os.getpid()} .*started .*\) is running"):
            with project_job(tmp_path / "p", "register"):
                pass
    assert read_lock(tmp_path / "p") is None
    lock = tmp_path / "p" / LOCK_NAME
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": os.uname().nodename, "job": "round", "started_at": 0}))
    leftover = tmp_path / "p" / "models" / "round_001" / f".regressor.ckpt.{_dead_pid()}.abcdefgh.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"x" * 100)
    with project_job(tmp_path / "p", "round"):  # its holder died (SIGKILL): taken over, its temp files swept
        assert read_lock(tmp_path / "p")["pid"] == os.getpid() and not leftover.exists()


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    Project.create(tmp_path / "p").close()
    lock = tmp_path / "p" / LOCK_NAME
    started = time.mktime((2026, 3, 1, 9, 30, 0, 0, 0, -1))
    text = json.dumps({"pid": _dead_pid(), "host": "render-node-7", "job": "round", "started_at": started})
    lock.write_text(text)  # its PID is not alive here, which says nothing about render-node-7
    with pytest.raises(ProjectBusy) as info:
        with project_job(tmp_path / "p", "register"):
            pass
    message = str(info.value)
    for part in ("a round", "PID", "render-node-7", "2026-03-01 09:30:00", f"delete {lock}",
                 "if render-node-7 is gone"):
        assert part in message, (part, message)
    assert lock.read_text() == text


def test_a_lock_whose_pid_was_reused_or_whose_machine_rebooted_is_stale(tmp_path):
    Project.create(tmp_path / "p").close()
    lock = tmp_path / "p" / LOCK_NAME
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with project_job(tmp_path / "p", "round") as mine:  # what this host writes
            pass
        assert mine["boot_id"] and mine["start_ticks"] > 0
        alive = {**mine, "pid": sleeper.pid}  # the sleeper's PID, with the start of the process that wrote it
        for holder in ({**alive, "start_ticks": mine["start_ticks"] - 1},  # its PID was given to the sleeper
                       {**alive, "boot_id": "a-boot-before-a-restart"}):  # the machine rebooted since
            lock.write_text(json.dumps(holder))
            with project_job(tmp_path / "p", "round") as taken:
                assert read_lock(tmp_path / "p") == taken
        ticks = int(Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        lock.write_text(json.dumps({**alive, "start_ticks": ticks}))  # the sleeper itself: live
        with pytest.raises(ProjectBusy, match=rf"PID {sleeper.pid} .*is running"):
            with project_job(tmp_path / "p", "round"):
                pass
    finally:
        sleeper.kill()
        sleeper.wait()


def test_cli_round_refuses_a_project_another_job_holds(tmp_path):
    from deformlearn.core.cli import main

    Project.create(tmp_path / "p").close()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "p" / LOCK_NAME).write_text(json.dumps(
            {"pid": sleeper.pid, "host": os.uname().nodename, "job": "round", "started_at": time.time()}))
        proc = subprocess.run([*CLI, "round", str(tmp_path / "p"), "--resume"], capture_output=True, text=True,
                              cwd=REPO, timeout=120)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert proc.returncode == 2 and f"a round (PID {sleeper.pid}" in proc.stderr and "Traceback" not in proc.stderr
    assert main  # the same entry point the console script runs


def test_a_rejected_template_leaves_nothing_behind(tmp_path):
    from dataclasses import replace

    from deformlearn.core.body.template import TemplateError, save_template
    from tests.tiny_template import make_tiny_template

    good = make_tiny_template()
    parents = good.parents.copy()
    parents[3], parents[5] = 5, 3
    joints = good.rest_joints.copy()
    joints[2, 1] = np.nan
    bad = {"weld_index": replace(good, weld_index=good.weld_index + good.num_vertices),
           "non-finite": replace(good, rest_joints=joints), "cycle": replace(good, parents=parents)}
    for name, template in bad.items():
        save_template(template, tmp_path / f"{name}.npz")
        with pytest.raises(TemplateError, match=name):
            Project.create(tmp_path / f"project_{name}", template=str(tmp_path / f"{name}.npz"))
        assert not (tmp_path / f"project_{name}").exists()
    proc = subprocess.run([*CLI, "import", str(tmp_path / "q"), "--iuv", str(tmp_path / "nowhere"), "--template",
                           str(tmp_path / "cycle.npz")], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and not (tmp_path / "q").exists() and "Traceback" not in proc.stderr


@pytest.fixture
def read_only_mount(tmp_path):
    """A read-only view of a folder: a read-only bind mount when we are root (as on a read-only share),
    else the folder with its write permissions removed. Yields (folder to fill, its read-only view)."""
    source, view = tmp_path / "source", tmp_path / "view"
    source.mkdir()
    view.mkdir()
    mounted = False

    def make_read_only() -> None:
        nonlocal mounted
        if os.geteuid() == 0 and subprocess.run(["mount", "--bind", str(source), str(view)]).returncode == 0:
            mounted = True
            subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        else:
            view.rmdir()
            source.rename(view)
            for p in [view, *view.rglob("*")]:
                p.chmod(p.stat().st_mode & ~0o222)

    yield source, view, make_read_only
    if mounted:
        subprocess.run(["umount", str(view)], check=True)


def test_read_only_projects_can_be_read_and_writes_say_what_is_needed(read_only_mount):
    source, view, make_read_only = read_only_mount
    _project_with_people(source / "p").close()
    make_read_only()
    root = view / "p"
    info = subprocess.run([*CLI, "info", str(root), "--json"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert info.returncode == 0, info.stderr  # was: unable to open database file (no -shm could be made)
    assert json.loads(info.stdout)["persons"] == 3
    draw = subprocess.run([*CLI, "draw", str(root), "--person", "1", "--out", str(root / "x.png")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert draw.returncode == 2 and str(root / "x.png") in draw.stderr and "Traceback" not in draw.stderr
    register = subprocess.run([*CLI, "register", str(root)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert register.returncode == 2 and "writes to it" in register.stderr and "Traceback" not in register.stderr


def _fitted_project(path: Path, n: int = 2) -> None:
    """A project of n people, each with one converged fit (identity pose) to draw and export."""
    params = {"pose": np.zeros((23, 3), np.float32), "scales": np.ones(24, np.float32),
              "rotation": np.eye(3, dtype=np.float32), "scale": np.array(1.0, np.float32),
              "translation": np.zeros(2, np.float32)}
    with _project_with_people(path, n=n) as project:
        project.save_fits([FitRecord(int(p), 1, params, {"error": 1.0}, "converged") for p in project.person_ids()])


def test_read_only_projects_export_and_draw_elsewhere(read_only_mount, tmp_path):
    source, view, make_read_only = read_only_mount
    _fitted_project(source / "p")
    make_read_only()
    root = view / "p"
    out = tmp_path / "out"
    export = subprocess.run([*CLI, "export", str(root), "--out", str(out), "--format", "json"], capture_output=True,
                            text=True, cwd=REPO, timeout=120)
    assert export.returncode == 0, export.stderr
    assert sorted(p.name for p in out.iterdir()) == ["person_000001.json", "person_000002.json"]
    draw = subprocess.run([*CLI, "draw", str(root), "--person", "1", "--out", str(tmp_path / "one.png")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert draw.returncode == 0 and (tmp_path / "one.png").stat().st_size > 0, draw.stderr


def _unprivileged(command: list[str]) -> list[str]:
    """`command` run without root's power to ignore file permissions (root: every capability dropped with
    setpriv; skipped where that tool is missing)."""
    import shutil

    if os.geteuid() != 0:
        return command
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root's capabilities")
    return ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", *command]


def test_a_project_without_write_permission_reads_and_exports(tmp_path):
    _fitted_project(tmp_path / "p")
    locked, out = tmp_path / "locked", tmp_path / "out"
    locked.mkdir()
    for path in [tmp_path / "p", *(tmp_path / "p").rglob("*"), locked]:
        path.chmod(path.stat().st_mode & ~0o222)  # chmod -R a-w

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(_unprivileged([*CLI, *args]), capture_output=True, text=True, cwd=REPO, timeout=120)

    info = run("info", str(tmp_path / "p"), "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["fitted"] == 2, info.stderr
    assert run("export", str(tmp_path / "p"), "--out", str(out), "--format", "json").returncode == 0
    assert run("draw", str(tmp_path / "p"), "--person", "2", "--out", str(out / "two.png")).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["person_000001.json", "person_000002.json", "two.png"]
    refused = run("export", str(tmp_path / "p"), "--out", str(locked), "--format", "json")
    assert refused.returncode == 2 and f"{locked / 'person_000001.json'}: permission denied" in refused.stderr
    register = run("register", str(tmp_path / "p"))
    assert register.returncode == 2 and "read-only here" in register.stderr and "Traceback" not in register.stderr
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["arrays", "frames", "project.sqlite"]


def test_a_read_only_copy_shows_what_a_killed_writer_committed(read_only_mount):
    """A writer killed after committing leaves its rows in the -wal file; mode=ro reads them through the -shm
    it left. Immutable mode would not see them, so it is used only when mode=ro cannot open the database."""
    source, view, make_read_only = read_only_mount
    _project_with_people(source / "p", n=1).close()
    code = ("import sys, os, signal; from tests.test_reliability import _frames, _annotation; "
            "from deformlearn.core.project.importing import import_people; "
            "from deformlearn.core.project.store import Project; from pathlib import Path; "
            "p = Project.open(sys.argv[1]); frames = _frames(Path(sys.argv[1]) / 'more', 2, salt=3); "
            "import_people(p, [_annotation(f, f'b#{i}', seed=20 + i) for i, f in enumerate(frames)], None); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    proc = subprocess.run([sys.executable, "-c", code, str(source / "p")], cwd=REPO, timeout=120)
    assert proc.returncode == -signal.SIGKILL and (source / "p" / "project.sqlite-wal").stat().st_size > 0
    make_read_only()
    with Project.open(view / "p", readonly=True) as project:
        assert project.count_persons() == 3  # the killed writer's two people are there


def test_immutable_reading_is_a_fallback_that_says_when_it_may_miss_changes(read_only_mount, capsys):
    source, view, make_read_only = read_only_mount
    _project_with_people(source / "p", n=1).close()
    with Project.open(source / "p") as writer:  # an open writer: its commit is in the -wal, not yet in the db
        frames = _frames(source / "p" / "more", 1, salt=4)
        import_people(writer, [_annotation(frames[0], "c#0", seed=30)], None)
        copy = source / "copy"
        copy.mkdir()
        for name in ("project.sqlite", "project.sqlite-wal"):  # copied without its -shm (as some tools do)
            (copy / name).write_bytes((source / "p" / name).read_bytes())
    (copy / "arrays").mkdir()
    make_read_only()
    with Project.open(view / "copy", readonly=True) as project:  # mode=ro fails: no -shm can be made
        assert project.count_persons() == 1  # the -wal's person is not seen
    err = capsys.readouterr().err
    assert f"{view / 'copy' / 'project.sqlite-wal'}" in err and "not shown" in err
    with Project.open(view / "p", readonly=True) as project:  # cleanly closed: nothing is missed, nothing said
        assert project.count_persons() == 2
    assert capsys.readouterr().err == ""


def test_ordinary_faults_are_one_line(tmp_path):
    with _project_with_people(tmp_path / "p"):
        pass
    closed = subprocess.Popen([*CLI, "info", str(tmp_path / "p")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=REPO)
    closed.stdout.close()  # `info | head -0`: the reader is gone before anything is written
    assert closed.wait(timeout=120) == 0 and b"Traceback" not in closed.stderr.read()
    closed.stderr.close()

    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    proc = subprocess.run([*CLI, "import", str(tmp_path / "p"), "--coco-densepose", str(deep), "--images",
                           str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and f"{deep}: nested too deeply" in proc.stderr and "Traceback" not in proc.stderr

    import torch

    if not torch.cuda.is_available():
        proc = subprocess.run([*CLI, "register", str(tmp_path / "p"), "--device", "cuda"], capture_output=True,
                              text=True, cwd=REPO, timeout=120)
        assert proc.returncode == 2 and "--device cuda: torch sees no CUDA GPU" in proc.stderr
    proc = subprocess.run([*CLI, "export", str(tmp_path / "p"), "--out", str(deep / "sub")], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and str(deep) in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs (root only; skipped elsewhere) with `filler` taking all but a few kB of it."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield mount
    subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _fill_disk(mount: Path) -> None:
    with open(mount / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_full_disk_is_one_line_and_leaves_the_project_consistent(full_disk, tmp_path):
    import sqlite3

    project = _project_with_people(full_disk / "p", n=2)
    frames = _frames(tmp_path / "more", 300, salt=5)
    _fill_disk(full_disk)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        import_people(project, [_annotation(f, f"b#{i}", seed=100 + i) for i, f in enumerate(frames)], None)
    project.close()
    proc = subprocess.run([*CLI, "draw", str(full_disk / "p"), "--person", "1", "--out", str(full_disk / "x.png")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "no space left" in proc.stderr and "Traceback" not in proc.stderr
    (full_disk / "filler").unlink()
    with Project.open(full_disk / "p") as project:
        assert project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert project.count_persons() % 500 == 2  # whole chunks or nothing


def test_a_full_disk_is_named_as_such_when_opening_and_writing_files(full_disk):
    _fitted_project(full_disk / "p", n=1)
    _fill_disk(full_disk)  # the project was closed cleanly: opening it for writing must make its -wal and -shm
    for command in (["register", str(full_disk / "p"), "--steps", "1"], ["round", str(full_disk / "p")]):
        proc = subprocess.run([*CLI, *command], capture_output=True, text=True, cwd=REPO, timeout=120)
        # was: "cannot open the project for writing (disk I/O error) ... make the folder writable"
        assert proc.returncode == 2 and "no space left" in proc.stderr and "writable" not in proc.stderr, proc.stderr
        assert str(full_disk / "p") in proc.stderr and "Traceback" not in proc.stderr
    out = full_disk / "out"
    proc = subprocess.run([*CLI, "export", str(full_disk / "p"), "--out", str(out), "--format", "json"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "no space left" in proc.stderr, proc.stderr
    assert f"{out / 'person_000001.json'}: no space" in proc.stderr  # was: "a file: no space left"
    assert not list(out.glob(".*.tmp"))


def test_a_torch_file_that_fills_the_disk_is_a_full_disk_not_a_zip_error(full_disk):
    import errno

    import torch

    _fill_disk(full_disk)
    (full_disk / "filler").write_bytes(b"\0" * ((full_disk / "filler").stat().st_size - 200_000))
    with pytest.raises(OSError) as info:  # was: RuntimeError "[enforce fail at inline_container.cc] unexpected pos"
        atomic_write(full_disk / "lifter.pt", lambda f: torch.save({"w": torch.zeros(100_000)}, f))
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(full_disk / "lifter.pt")
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


def test_a_write_refused_names_the_file_asked_for_not_its_temp_file(read_only_mount):
    import errno

    source, view, make_read_only = read_only_mount
    make_read_only()
    with pytest.raises(OSError) as info:
        atomic_write(view / "model.pt", b"x")
    assert info.value.errno in (errno.EROFS, errno.EACCES)  # a read-only mount, or a folder without write permission
    assert info.value.filename == str(view / "model.pt") and ".tmp" not in str(info.value)
    assert isinstance(info.value, PermissionError) == (info.value.errno == errno.EACCES)  # the errno's own class


def test_a_round_leaves_out_a_person_with_unusable_data_and_keeps_accepted_fits(tmp_path):
    from dataclasses import replace

    import torch

    from deformlearn.core.project.records import array_to_blob
    from deformlearn.core.rounds.loop import array_name, run_round
    from tests.round_project import make_round_project
    from tests.test_rounds import tiny_settings

    torch.set_num_threads(1)
    settings = replace(tiny_settings(), holdout_fraction=0.0)
    with make_round_project(tmp_path / "p", n=8) as project:
        ids = [int(p) for p in project.person_ids()]
        broken = np.full((17, 3), np.inf, np.float32)  # what an older import stored for 1e39
        with project.transaction():
            project._conn.execute("UPDATE persons SET keypoints = ? WHERE id = ?", (array_to_blob(broken), ids[1]))
        record = run_round(project, settings)  # was: "non-finite coordinates", round open
        assert record.finished_at is not None and ids[1] not in {f.person_id for f in project.fits(1)}
        assert "non-finite keypoints" in project.failed_people()[ids[1]] and len(project.fits(1)) == 7

        accepted = project.current_fit(ids[2])
        project.set_review(ids[2], "accepted")
        run_round(project, settings)
        assert [f.round_index for f in project.fit_history(ids[2])] == [1, 2]
        assert project.current_fit(ids[2]).id == accepted.id and project.person(ids[2]).status == "accepted"
        assert project.current_fit(ids[3]).round_index == 2  # unreviewed people move on to the new fit
        assert ids[2] in project.read_array(array_name(2, "regressor_ids")).tolist()


def test_export_writes_the_current_fit_not_the_newest(tmp_path):
    from deformlearn.core.export.params import fit_params

    with _project_with_people(tmp_path / "p", n=1) as project:
        pid = int(project.person_ids()[0])
        params = {"pose": np.zeros((23, 3), np.float32), "scales": np.ones(24, np.float32),
                  "rotation": np.eye(3, dtype=np.float32), "scale": np.array(1.0, np.float32),
                  "translation": np.zeros(2, np.float32)}
        project.save_fits([FitRecord(pid, 1, params, {"error": 1.0}, "converged")])
        project.set_review(pid, "accepted")
        project.save_fits([FitRecord(pid, 2, params, {"error": 0.5}, "converged")])
        assert fit_params(project, pid)["round_index"] == 1  # the accepted fit, not round 2's unreviewed one


def test_degenerate_fits_are_listed_last_and_never_trained_on(tmp_path):
    import torch

    from deformlearn.core.project.templates import load_project_template
    from deformlearn.core.registration.pipeline import FitPlan, fit_people
    from deformlearn.core.registration.settings import RegistrationSettings
    from tests.round_project import make_round_project

    torch.set_num_threads(1)
    no_keypoints = np.zeros((17, 3), np.float32)
    with make_round_project(tmp_path / "p", n=4) as project:
        good, one_pixel, one_point, scrambled = (int(p) for p in project.person_ids())
        d = project.person(one_pixel).dense
        project.update_annotation(one_pixel, keypoints=no_keypoints, dense=DensePoints(np.repeat(d.xy[:1], len(d), 0),
                                                                                      d.part, d.uv))
        project.update_annotation(one_point, keypoints=no_keypoints, dense=DensePoints(d.xy[:1], d.part[:1], d.uv[:1]))
        d = project.person(scrambled).dense
        rng = np.random.default_rng(0)  # parts and UVs shuffled over the pixels: no body explains them
        project.update_annotation(scrambled, dense=DensePoints(d.xy, rng.permutation(d.part), rng.permutation(d.uv)))
        settings = RegistrationSettings.round1(steps=60, num_orientations=1, num_threads=1)
        fit_people(project, load_project_template(project), project.person_ids(), FitPlan(settings))

        fits = {f.person_id: f.metrics for f in project.current_fits()}
        assert fits[one_point]["error"] < 0.5 and fits[one_pixel]["error"] < 1  # tiny errors that mean nothing
        assert {p: fits[p]["quality"] for p in fits} == {good: "good", one_pixel: "degenerate", one_point: "degenerate",
                                                         scrambled: "poor"}
        assert fits[scrambled]["error"] > 30 and "dense_residual" in fits[scrambled]["quality_flags"]
        # was: one_point (0.0 px) and one_pixel (0.4 px) topped the error sort and all four were trained on
        for descending in (False, True):
            order = [r.id for r in project.list_persons(order_by="error", descending=descending)]
            assert order[:2] == ([good, scrambled] if not descending else [scrambled, good])
            assert set(order[2:]) == {one_pixel, one_point}
        rows = project.list_persons(order_by="error")
        assert [r.fit_quality for r in rows] == ["good", "poor", "degenerate", "degenerate"]
        assert [r.id for r in project.list_persons(max_error=10)] == [good]
        assert set(project.person_ids(fit_status="degenerate").tolist()) == {one_pixel, one_point}
        assert project.count_persons(fit_status="poor") == 1 and project.count_persons(fit_status="good") == 1
        assert [f.person_id for f in project.current_fits(training=True)] == [good, scrambled]


def test_an_older_project_learns_its_fits_verdicts(tmp_path):
    import sqlite3

    from deformlearn.core.project import schema

    with _project_with_people(tmp_path / "p", n=2) as project:
        a, b = (int(p) for p in project.person_ids())
        project.save_fits([FitRecord(a, 1, {}, {"error": 0.0, "quality": "degenerate"}, "converged"),
                           FitRecord(b, 1, {}, {"error": 3.0}, "converged")])  # b: judged before verdicts existed
    conn = sqlite3.connect(tmp_path / "p" / "project.sqlite", isolation_level=None)
    conn.execute("DROP INDEX persons_error_rank")
    conn.execute("ALTER TABLE persons DROP COLUMN fit_quality")
    conn.execute("UPDATE schema_version SET version = 3")
    conn.close()
    with Project.open(tmp_path / "p") as project:
        assert schema.read_schema_version(project._conn) == schema.SCHEMA_VERSION
        assert [(r.id, r.fit_quality) for r in project.list_persons(order_by="error")] == [(b, None), (a, "degenerate")]
        assert [f.person_id for f in project.current_fits(training=True)] == [b]
        plan = str(project._conn.execute("EXPLAIN QUERY PLAN SELECT id FROM persons p ORDER BY (p.fit_error IS NULL), "
                                         "(p.fit_quality IS 'degenerate'), p.fit_error, p.id LIMIT 10").fetchall())
    assert "persons_error_rank" in plan and "TEMP B-TREE" not in plan


class _Payload:
    """A pickled object whose loading would run a command (touch its marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_torch_file_holding_code_is_one_line_without_torchs_advice(tmp_path):
    import torch

    from deformlearn.core.files.torch_files import load_torch_file

    _project_with_people(tmp_path / "p", n=1).close()
    marker = tmp_path / "ran"
    payload = tmp_path / "lifter.pt"
    torch.save({"state": {"w": torch.zeros(2)}, "extra": _Payload(marker)}, payload)
    with pytest.raises(ValueError) as info:
        load_torch_file(payload, "lifter")
    message = str(info.value)
    # was: torch's paragraph advising to re-run torch.load with weights_only=False
    assert message.startswith(f"{payload}: not a plain lifter file") and "\n" not in message
    assert "posix.system" in message and "weights_only" not in message and "--trust-pickle" not in message
    cut = tmp_path / "cut.pt"
    cut.write_bytes(payload.read_bytes()[:200])
    with pytest.raises(ValueError, match=rf"^{cut}: not a readable lifter file \(truncated or not a torch file"):
        load_torch_file(cut, "lifter")
    proc = subprocess.run([*CLI, "register", str(tmp_path / "p"), "--lifter", str(payload)], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and str(payload) in proc.stderr
    assert "weights_only" not in proc.stderr and not marker.exists()


def test_metrics_are_stored_as_strict_json(tmp_path, capsys):
    import sqlite3

    import torch

    def strict(text: str) -> dict:
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} stored: {text}"))

    with _project_with_people(tmp_path / "p", n=1) as project:
        pid = int(project.person_ids()[0])
        odd = {"nan": float("nan"), "inf": float("inf"), "f32": np.float32("nan"), "zero_d": np.array(np.nan),
               "tensor": torch.tensor(float("-inf")), "ok": 2.5}
        params = {"pose": np.zeros((23, 3), np.float32), "scales": np.ones(24, np.float32),
                  "rotation": np.eye(3, dtype=np.float32), "scale": np.array(0.9, np.float32),
                  "translation": np.zeros(2, np.float32)}
        project.save_fits([FitRecord(pid, 1, params, odd, "converged")])
        project.start_round(1)
        project.update_round(1, metrics={**odd, "list": [1.0, float("nan")]})
        fit = project.current_fit(pid)
        assert np.isnan(fit.metrics["nan"]) and np.isnan(fit.metrics["tensor"]) and fit.metrics["ok"] == 2.5
        assert np.isnan(project.rounds()[0].metrics["zero_d"])
    conn = sqlite3.connect(tmp_path / "p" / "project.sqlite")
    (fit_text,), (round_text,) = conn.execute("SELECT metrics FROM fits UNION ALL SELECT metrics FROM rounds")
    assert strict(fit_text)["inf"] is None and strict(fit_text)["ok"] == 2.5
    assert strict(round_text)["list"] == [1.0, None] and strict(round_text)["tensor"] is None
    conn.close()
    # what leaves the project is strict too: info --json and exported parameter files
    from deformlearn.core.cli import main

    capsys.readouterr()
    assert main(["info", str(tmp_path / "p"), "--json"]) == 0
    assert strict(capsys.readouterr().out)["round_list"][0]["metrics"]["nan"] is None
    assert main(["export", str(tmp_path / "p"), "--out", str(tmp_path / "x"), "--format", "json"]) == 0
    exported = [strict(f.read_text()) for f in (tmp_path / "x").rglob("*.json")]
    assert len(exported) == 1 and exported[0]["metric_values"].count(None) == 5  # nan, inf, f32, zero_d, tensor


def test_corrupt_lifted_depths_are_named_not_ignored(tmp_path):
    from deformlearn.core.rounds.loop import array_name

    with _project_with_people(tmp_path / "p", n=2) as project:
        ids = project.person_ids()
        project.start_round(1)
        project.write_array(array_name(1, "lifted_ids"), ids)
        depths = project.write_array(array_name(1, "lifted_depths"), np.zeros((2, 17), np.float32))
        project.update_round(1, stages={"lifting": "done"}, finished=True)
    depths.write_bytes(depths.read_bytes()[:60])  # cut short
    proc = subprocess.run([*CLI, "register", str(tmp_path / "p"), "--steps", "1"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    # was: the round's depths silently skipped, the people fitted without them
    assert proc.returncode == 2 and str(depths) in proc.stderr and "--depths none" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    with Project.open(tmp_path / "p") as project:
        project.write_array(array_name(1, "lifted_depths"), np.zeros((2, 16), np.float32))  # readable, wrong shape
    proc = subprocess.run([*CLI, "register", str(tmp_path / "p"), "--steps", "1"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    # was: named the project folder, not the file
    assert proc.returncode == 2 and f"{depths}: round 1's cGAN depths have shape (2, 16), expected (2, 17)" in \
        proc.stderr, proc.stderr


def test_a_resumed_round_lifts_again_when_its_depths_are_damaged(tmp_path):
    from dataclasses import replace

    import torch

    from deformlearn.core.rounds.loop import array_name, run_round
    from tests.round_project import make_round_project
    from tests.test_rounds import tiny_settings

    torch.set_num_threads(1)
    settings = replace(tiny_settings(), holdout_fraction=0.0)
    with make_round_project(tmp_path / "p", n=6) as project:
        run_round(project, replace(settings, stages=("lifting",)))
        project.update_round(1, finished_at=None)  # as if killed right after its lifting stage
        depths = project.root / "arrays" / f"{array_name(1, 'lifted_depths')}.npy"
        depths.write_bytes(depths.read_bytes()[:100])
        notes = []
        record = run_round(project, settings, resume=True, progress=lambda e: e.message and notes.append(e.message))
        # was: "lifted_depths.npy: unreadable array (...)" and the round could not go on
        assert record.finished_at is not None and len(project.fits(1)) == 6
        assert any(str(depths) in n and "lifting again" in n for n in notes), notes
        assert project.read_array(array_name(1, "lifted_depths")).shape == (6, 17)


def test_stored_dense_points_that_are_not_finite_name_the_person(tmp_path):
    from deformlearn.core.project.records import array_to_blob

    with _project_with_people(tmp_path / "p", n=2) as project:
        pid = int(project.person_ids()[1])
        xy = np.zeros((20, 2), np.float32)
        xy[4] = np.inf  # what an older import stored
        with project.transaction():
            project._conn.execute("UPDATE dense SET xy = ? WHERE person_id = ?", (array_to_blob(xy), pid))
        with pytest.raises(ValueError, match=rf"{project.root}: person {pid}: dense point 4 of 20 is not finite"):
            project.person(pid)


def _open_handles(file: Path) -> int:
    """How many of this process's file descriptors are open on `file` (Linux /proc)."""
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(fd) == str(file)
        except OSError:
            continue
    return count


def test_a_project_that_fails_to_open_leaves_no_connection_open(tmp_path):
    import sqlite3

    Project.create(tmp_path / "p").close()
    db = tmp_path / "p" / "project.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE meta")  # damaged: the schema version is current, the meta table gone
    conn.commit()
    conn.close()
    assert _open_handles(db) == 0
    for readonly in (False, True):
        # was: sqlite3.OperationalError 'no such table: meta', and the connection left open
        with pytest.raises(ProjectError, match=rf"^{db}: not a readable project database \(no such table: meta"):
            Project.open(tmp_path / "p", readonly=readonly)
        assert _open_handles(db) == 0, readonly


def test_an_embedded_image_of_the_same_name_never_replaces_another(tmp_path, shared_data):
    from deformlearn.core.densepose.readers import read_people

    demo = shared_data / "densepose" / "demo_dp_single_ann.pkl"
    doc = pickle.loads(demo.read_bytes(), encoding="latin1")
    other = tmp_path / "other" / demo.name  # the same file name, the same points, another crop
    other.parent.mkdir()
    other.write_bytes(pickle.dumps({**doc, "ICrop": 255 - doc["ICrop"]}))
    with Project.create(tmp_path / "p") as project:
        import_people(project, read_people("densepose-pickle", demo), None)
        first = project.person(int(project.person_ids()[0])).image_file
        kept = Path(first).read_bytes()
        # was: the crop overwritten by the other one, and its person taken for the first ('already present')
        report = import_people(project, read_people("densepose-pickle", other), None)
        assert report.added == 1 and project.summary()["images"] == 2
        assert Path(first).read_bytes() == kept
        files = {project.person(int(p)).image_file for p in project.person_ids()}
        assert len(files) == 2 and all(Path(f).is_file() for f in files)
        again = import_people(project, read_people("densepose-pickle", other), None)  # nothing new, nothing left
        assert again.added == 0 and len(list((project.root / "images").iterdir())) == 2


def test_two_jobs_taking_over_one_stale_lock_never_both_run(tmp_path, monkeypatch):
    from deformlearn.core.project import job_lock

    Project.create(tmp_path / "p").close()
    lock = tmp_path / "p" / LOCK_NAME
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": job_lock.socket.gethostname(), "job": "round",
                                "started_at": time.time()}))
    real_stale, other = job_lock._stale, []

    def racing(holder: dict, path: Path) -> bool:  # another job takes the same stale lock over first
        stale = real_stale(holder, path)
        if stale and not other:
            other.append(project_job(tmp_path / "p", "register"))
            other[0].__enter__()
        return stale

    monkeypatch.setattr(job_lock, "_stale", racing)
    try:
        # was: this job deleted the other one's fresh lock (taking it for the stale one) and ran beside it
        with pytest.raises(ProjectBusy, match="a register"):
            with project_job(tmp_path / "p", "round"):
                pass
        assert read_lock(tmp_path / "p")["job"] == "register"
        assert sorted(p.name for p in lock.parent.iterdir() if "lock" in p.name) == [LOCK_NAME]
    finally:
        other[0].__exit__(None, None, None)
    assert not lock.exists()


def test_a_writers_own_oserror_without_an_errno_keeps_its_class(tmp_path):
    import io

    def write(f) -> None:
        raise io.UnsupportedOperation("this writer needs a seekable file")

    # was: OSError "[Errno None] this writer needs a seekable file: '.../out.bin'"
    with pytest.raises(io.UnsupportedOperation, match="^this writer needs a seekable file$"):
        atomic_write(tmp_path / "out.bin", write)
    assert list(tmp_path.iterdir()) == []
