"""`deformlearn round PROJECT`: run deform-and-learn rounds (cGAN, registration, regressor, evaluation).

SIGINT / SIGTERM cancel cleanly (the round stops after its last consistent write; `--resume` continues it).
With --progress-json every event is one JSON line on stdout:
  {"event": "progress", "round": k, "stage": ..., "step": ..., "total": ..., "losses": {...}, "eta_s": ...}
  {"event": "round_done", "round": k, "metrics": {...}}
  {"event": "cancelled", "round": k, "message": ...}
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

HELP = "run deform-and-learn rounds on a project (train cGAN, register everyone, train the regressor)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project folder")
    parser.add_argument("--rounds", type=int, default=1, metavar="K", help="rounds to run (default 1)")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted round first")
    parser.add_argument("--preset", choices=("paper", "cpu-demo"), default="cpu-demo",
                        help="hyperparameters: the paper's, or small ones for a CPU (default)")
    parser.add_argument("--only-accepted", action="store_true",
                        help="train the regressor only on fits a reviewer accepted (default: all not rejected)")
    parser.add_argument("--input", choices=("rgb", "iuv", "rgb+iuv"), default=None,
                        help="the convnet regressor's crop input (implies --architecture convnet)")
    parser.add_argument("--architecture", choices=("convnet", "nbf", "decomr", "pointset", "partwise"), default=None,
                        help="regressor architecture (default: the preset's; benchmarks/learning.py compares them)")
    parser.add_argument("--progress-json", action="store_true", help="progress as JSON lines on stdout")
    parser.add_argument("--device", default="auto",
                        help="torch device, e.g. cpu or cuda (default auto: cuda when torch sees a GPU, else cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--lifter", default=None, metavar="FILE|synthetic|none",
                        help="lift keypoints with this lifter file instead of training one (e.g. models/round_001/"
                        "lifter.pt of another project); 'synthetic': the built-in synthetic lifter (trained once, "
                        "cached in the user data folder), which a project with fewer than 128 keypoint people "
                        "uses anyway; 'none': fit without cGAN depths")
    parser.add_argument("--stages", default=None, metavar="LIST",
                        help="comma-separated stages to run, from lifting on (default lifting,registration,regressor,"
                        "evaluation); `--stages lifting` on a `deformlearn synth` project trains a lifter to reuse")
    parser.add_argument("--distributed", action="store_true",
                        help="under torchrun: shard registration and train the regressor with DDP (rank 0 writes)")


class _JsonProgress:
    """Prints progress events as JSON lines, at most `rate` per second per stage (always the last step)."""

    def __init__(self, rate: float = 5.0) -> None:
        self.min_gap = 1.0 / rate
        self.last: dict[str, float] = {}

    def __call__(self, event) -> None:
        if event.message:
            emit({"event": "progress", "round": event.round_index, "stage": event.stage, "message": event.message})
            return
        now = time.monotonic()
        if event.step < event.total and now - self.last.get(event.stage, -math.inf) < self.min_gap:
            return
        self.last[event.stage] = now
        emit({"event": "progress", "round": event.round_index, "stage": event.stage, "step": event.step,
              "total": event.total, "losses": {k: _finite(v) for k, v in event.losses.items()},
              "eta_s": _finite(event.eta_s)})


class _BarProgress:
    """One tqdm bar per stage on stderr."""

    def __init__(self) -> None:
        self.bar = None
        self.stage = None

    def __call__(self, event) -> None:
        from tqdm import tqdm

        if event.message:
            tqdm.write(f"round {event.round_index} {event.stage}: {event.message}", file=sys.stderr)
            return
        if event.stage != self.stage:
            self.close()
            self.stage = event.stage
            self.bar = tqdm(total=event.total, desc=f"round {event.round_index} {event.stage}", leave=True)
        self.bar.n = event.step
        loss = event.losses.get("total", event.losses.get("generator"))
        if loss is not None:
            self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _finite(value):
    return None if value is None or not math.isfinite(float(value)) else float(value)


def emit(payload: dict) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    import torch

    from deformlearn.core.cancel import CancelToken
    from deformlearn.core.distributed import SINGLE, close_distributed, init_distributed
    from deformlearn.core.rounds.settings import RoundSettings

    if args.rounds < 1:
        raise ValueError(f"--rounds must be >= 1, got {args.rounds}")
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = RoundSettings.preset(args.preset, only_accepted=args.only_accepted).on_device(args.device)
    if args.input and args.architecture not in (None, "convnet"):
        raise ValueError(f"--input {args.input} is the convnet's crop; --architecture {args.architecture} reads "
                         f"the points (leave out --input, or choose --architecture convnet)")
    if args.input:
        model = replace(settings.regressor.model, input_mode=args.input, architecture="convnet")
        settings = replace(settings, regressor=replace(settings.regressor, model=model))
    if args.architecture:
        model = replace(settings.regressor.model, architecture=args.architecture)
        settings = replace(settings, regressor=replace(settings.regressor, model=model))
    if args.lifter:
        if args.lifter not in ("synthetic", "none") and not Path(args.lifter).is_file():
            raise ValueError(f"--lifter {args.lifter}: no such file (or give 'synthetic' or 'none')")
        settings = replace(settings, lifter_file=args.lifter)
    if args.stages:
        settings = replace(settings, stages=tuple(t for t in args.stages.replace(" ", "").split(",") if t))
    cancel = CancelToken()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: cancel.cancel())
    dist = init_distributed(args.device) if args.distributed else SINGLE
    try:
        return _run_rounds(args, settings, dist, cancel)
    finally:
        close_distributed(dist)


def _run_rounds(args: argparse.Namespace, settings, dist, cancel) -> int:
    from deformlearn.core.cancel import Cancelled
    from deformlearn.core.project.job_lock import project_job
    from deformlearn.core.project.store import Project
    from deformlearn.core.rounds.loop import run_round

    progress = _JsonProgress() if args.progress_json else _BarProgress()
    show = dist.is_main
    with Project.open(args.project) as project, project_job(project.root, "round") if show else nullcontext():
        for k in range(args.rounds):
            try:
                record = run_round(project, settings, resume=args.resume and k == 0, progress=progress,
                                   cancel=cancel, dist=dist)
            except Cancelled as exc:
                if not show:
                    return 130
                if args.progress_json:
                    emit({"event": "cancelled", "message": str(exc)})
                else:
                    progress.close()
                    print(f"deformlearn round: {exc}; continue with --resume", file=sys.stderr)
                return 130
            metrics = {k: v for k, v in record.metrics.items() if k != "settings"}
            if not show:
                continue
            if args.progress_json:
                emit({"event": "round_done", "round": record.index, "metrics": metrics})
            else:
                progress.close()
                shown = ", ".join(f"{k}={v:.1f}" for k, v in sorted(metrics.items()) if "mpjpe" in k or "_px" in k)
                print(f"round {record.index} done: {shown}")
    return 0
