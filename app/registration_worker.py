"""Runs core's fit pipeline for people of a project in a fit process; progress goes out as Qt signals.

`RegistrationWorker` lives on a QThread of the window; it hands the fit to `FitProcess`, one long-lived
spawned process that imports the engine once and runs `deformlearn.core.registration.fit_people` (the same
pipeline as `deformlearn register`) job after job, and relays its progress events as signals. Why a process:
a fit in a thread shares the interpreter lock with the window and the viewport's render thread, and its
many small torch calls each wait for it. Measured on the 2-core CPU with `benchmarks/app_interactive.py`:
a 300-step single fit that takes 0.8 s of CPU alone took 10.5-11.3 s in a thread of the app.

The panel's settings are the stiff first stage of the staged single-fit schedule (`FitSchedule.single_fit`),
people without dense points are fitted on their keypoints, and each fit is stored with the one metric
schema (`keypoint_error_px`, `quality`, ...). The start is "auto": people whose current fit is good (and
not rejected) are re-fitted from it with the schedule's relaxed stage alone (`FitSchedule.refit`), the
rest from the T-pose. Measured on 12 synthetic people and the two real photos: a re-fit from the good fit
ran 148 / 77 steps instead of 291 / 257 (0.73 / 0.47 s of CPU instead of 1.68 / 1.41 s), MPJPE 66.4 ->
60.8 mm, dense error 0.62 -> 0.48 and 3.35 -> 3.30 px, every fit still good.

The window starts the fit process when a project opens (`FittingMixin.start_fit_process`) and ends it
when it closes or the app quits (`stop_fit_process`); before its first job it loads what a first fit would (`_warm_up`).
Measured opening a project of the 13 real people of shared/data/densepose and fitting one 12 s later: the first
Fit took 0.75-0.83 s instead of 3.0-4.5 s (a second Fit 0.4-0.5 s), the project showed in 3.3-3.6 s
against 3.1-4.2 s without the early start.

The fit process opens its own `Project`. Cancelling stops within one optimiser step (and the 0.1 s the
worker polls at); fits of a cancelled chunk are not saved, earlier chunks are. An error in the fit comes
back as its message (its traceback goes to the log); a fit process that dies is reported and replaced by
a fresh one at the next fit.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from deformlearn.core.body import Template
from deformlearn.core.cancel import Cancelled, CancelToken
from deformlearn.core.registration import FitPlan, FitSchedule, PipelineProgress, RegistrationSettings

#: Round index of fits made from the app outside a deform-and-learn round.
MANUAL_ROUND = 0
#: Seconds between the worker's looks at its cancel token and the fit process while no event comes.
POLL_S = 0.1
#: Progress events a second the fit process sends at most: what a live view needs. A fit reporting every step
#: sent 150-300 a second, which slowed the fit and the viewport; with this cap `benchmarks/app_interactive.py`
#: (4 synthetic people, 300 steps, 4 orientations) measured single fits of 0.78-1.1 s instead of 1.18-1.72 s
#: and the viewport at 14.6-19.2 fps during fits instead of 11.2.
PROGRESS_HZ = 30


class FitFailed(RuntimeError):
    """A fit raised in the fit process (message: "Type: what"), or the process itself died."""


@dataclass(frozen=True)
class FitJob:
    """One `fit_people` call for the fit process: the project folder, its template, whom, how, who is watched."""

    project_root: str
    template: Template
    person_ids: list[int]
    plan: FitPlan
    watch_pid: int | None


def _run_job(job: FitJob, events, cancel_event) -> tuple:
    """In the fit process: one job -> ("done", summary dict) or ("failed", message, traceback text)."""
    from deformlearn.core.project import Project
    from deformlearn.core.registration import fit_people

    token, finished = CancelToken(), threading.Event()

    def watch_cancel() -> None:
        while not finished.is_set():
            if cancel_event.wait(POLL_S / 2):
                token.cancel()
                return

    watcher = threading.Thread(target=watch_cancel, daemon=True)
    watcher.start()
    send = _throttled(lambda e: events.put(("progress", e)))
    try:
        with Project.open(job.project_root) as project:
            summary = fit_people(project, job.template, job.person_ids, job.plan, cancel=token, watch_pid=job.watch_pid,
                                 progress=send)
        return "done", {**summary.to_dict(), "cancelled": False}
    except Cancelled as exc:  # the chunks saved before the cancel are in exc.done
        return "done", {**exc.done.to_dict(), "cancelled": True}
    except Exception as exc:  # the process lives on for the next job
        return "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
    finally:
        finished.set()
        watcher.join()


def _throttled(send: Callable[[PipelineProgress], None], hz: float = PROGRESS_HZ) -> Callable[[PipelineProgress], None]:
    """A progress callback passing at most `hz` events a second to `send` on average, and always a chunk's
    last one (step == total), so the window's bar and plot still end where the fit did.

    Each event is due 1/hz after the previous one was due, not after it came: the fitter reports every k
    steps at its own pace, and a gap of "1/hz since the last one" dropped every event that came a little
    early, so at 20-35 ms between reports only every second one passed (about 22 a second against 30)."""
    period, due = 1.0 / hz, -math.inf

    def progress(event: PipelineProgress) -> None:
        nonlocal due
        now = time.monotonic()
        if event.step >= event.total or now >= due:
            due = (due if now - due < period else now) + period  # after a pause the beat starts afresh
            send(event)
    return progress


def _warm_up() -> None:
    """In the fit process, before the first job: what a first fit would otherwise load on its way. Making
    an Adam optimiser imports torch._dynamo (2.1 s of the first fit's 3.0 s here; a later fit took 1.1 s)."""
    import torch

    import deformlearn.core.project  # noqa: F401  (the store each job opens)

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def _serve(jobs, events, cancel_event) -> None:
    """The fit process's loop: warm up, then run jobs until a None arrives or the app's process is gone (a
    killed app runs no exit handlers that would end this daemon)."""
    _warm_up()
    # The engine's ~380,000 objects outlive every job: kept out of the collector's full passes, which took
    # 100-400 ms each here and would otherwise stall a fit that has 1-2 s in all.
    gc.freeze()
    parent = multiprocessing.parent_process()
    while parent is None or parent.is_alive():
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            continue
        if job is None:
            return
        events.put(_run_job(job, events, cancel_event))


class FitProcess:
    """One spawned process running `FitJob`s one at a time (module docstring). `fit` blocks its caller's
    thread while the process works, so call it from a worker thread."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs Qt and torch threads
        self._jobs, self._events, self._cancel = ctx.Queue(), ctx.Queue(), ctx.Event()
        self._process = ctx.Process(target=_serve, args=(self._jobs, self._events, self._cancel), daemon=True,
                                    name="deformlearn-fit")
        self._process.start()
        self._lock = threading.Lock()

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def close(self, timeout: float = 2.0) -> None:
        """End the process: it leaves its loop at the next job; killed when that takes over `timeout` s
        (a job is running, or it is still importing the engine)."""
        self._jobs.put(None)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def fit(self, job: FitJob, progress: Callable[[PipelineProgress], None], cancel: CancelToken) -> dict:
        """Run `job`; progress events go to `progress` on the calling thread. Returns the summary dict
        (FitSummary.to_dict() + "cancelled"); raises FitFailed with the fit's error or the process's death.
        Anything else raised here (by `progress`, say) kills the process: its job's events would otherwise
        reach the next job."""
        with self._lock:
            self._cancel.clear()
            self._jobs.put(job)
            try:
                return self._relay(progress, cancel)
            except FitFailed:
                raise
            except BaseException:
                self._process.kill()
                raise

    def _relay(self, progress: Callable[[PipelineProgress], None], cancel: CancelToken) -> dict:
        while True:
            if cancel.cancelled:
                self._cancel.set()
            try:
                kind, *payload = self._events.get(timeout=POLL_S)
            except queue.Empty:
                if not self._process.is_alive():
                    raise FitFailed(f"the fit process stopped (exit code {self._process.exitcode})") from None
                continue
            if kind == "progress":
                progress(payload[0])
            elif kind == "done":
                return payload[0]
            else:
                message, trace = payload
                print(trace, file=sys.stderr)
                raise FitFailed(message)


_process: FitProcess | None = None
_process_lock = threading.Lock()


def fit_process() -> FitProcess:
    """The app's fit process, started on first use (or again after it died). Starting it imports the
    engine there (seconds), so calling this early, e.g. when a project opens, makes the first fit quicker."""
    global _process
    with _process_lock:
        if _process is None or not _process.is_alive():
            _process = FitProcess()
        return _process


def fit_process_alive() -> bool:
    """Whether the app's fit process has been started and runs."""
    with _process_lock:
        return _process is not None and _process.is_alive()


def stop_fit_process(timeout: float = 2.0) -> None:
    """End the app's fit process if there is one (the window's close, the app's exit; the next
    `fit_process()` starts another), waiting `timeout` s for it to leave its loop before killing it."""
    global _process
    with _process_lock:
        process, _process = _process, None
    if process is not None:
        process.close(timeout)


class RegistrationWorker(QObject):
    """Lives on a QThread; `run()` fits, `cancel()` (any thread) asks it to stop."""

    progress = Signal(object)  # PipelineProgress
    finished = Signal(dict)  # FitSummary.to_dict(): fitted, failed, skipped (pids with nothing to fit), cancelled, ...
    failed = Signal(str)  # what went wrong, in words (the traceback goes to the log)

    def __init__(self, project_root: str, template: Template, person_ids: list[int], settings: RegistrationSettings,
                 watch_pid: int | None = None, chunk_size: int = 256) -> None:
        super().__init__()
        self.project_root = project_root
        self.template = template
        self.person_ids = list(person_ids)
        self.settings = settings
        self.watch_pid = watch_pid
        self.chunk_size = chunk_size
        self._cancel = CancelToken()

    def cancel(self) -> None:
        self._cancel.cancel()

    def run(self) -> None:
        try:
            self.finished.emit(self._run())
        except FitFailed as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a crash of the worker must leave the window and the project intact
            traceback.print_exc()
            self.failed.emit(f"{type(exc).__name__}: {exc}")

    def _run(self) -> dict:
        plan = FitPlan(FitSchedule.single_fit(self.settings), start="auto", round_index=MANUAL_ROUND,
                       chunk_size=self.chunk_size)
        job = FitJob(self.project_root, self.template, self.person_ids, plan, self.watch_pid)
        return fit_process().fit(job, self.progress.emit, self._cancel)
