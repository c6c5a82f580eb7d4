"""Benchmark: batched registration speed and accuracy against ground truth. Prints one JSON line.

Speed: image-iterations per second (people x Adam steps, full loss: forward + backward + update) at batch
1, 64, 256, 512 and 1024, each person with 100-200 dense points; per-step time from the difference of two
run lengths (medians of 3 runs each), so set-up and the final evaluation are excluded. A figure that is not
physically possible (the longer runs no slower, a difference within the runs' spread, a rate above
MAX_RATE) is printed as null, with the reason under "speed_refused". Peak memory: process max RSS (CPU) or
torch.cuda.max_memory_allocated (CUDA).

Accuracy on noise-free synthetic people drawn from the body model (random pose, scales ~ N(1, 0.05), yaw
anywhere in 360 degrees, dense points = projected camera-facing vertices with known indices), for (a) oracle
depths (true keypoint depths standing in for a perfect cGAN) and (b) 2D only: round 1 (stiff, 300 steps,
4 orientations) then one later round (100 steps) from it, the paper's schedule; and a longer later round
(300 steps) to show what the schedule leaves. MPJPE (bone-length rescale, root = pelvis, SMPL bones),
PA-MPJPE, PA per-vertex error in mm; per-pixel dense error in pixels of the 256 frame. Orientation: share
of people whose round-1 rotation (2D only) is off by more than 30 / 90 degrees with 1 start and with 4
starts, with 100-200 and with only 20-40 dense points per person.

    python benchmarks/registration.py [--people 64] [--threads 1] [--speed-threads 1,2] [--device cpu]
                                      [--project SYNTH_PROJECT]

--speed-threads also measures the speed with each of these CPU thread counts (wall clock, each as measured:
on cores shared with other work, more threads can be much slower), reported by thread count with the
best per batch size.

With --project, the accuracy people come from a `deformlearn synth` project (its ground truth must hold
pose (23, 3), scales (24,), rotation (3, 3)) instead of the body model directly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import time

import numpy as np
import torch

from deformlearn.core.body.model import BodyModel
from deformlearn.core.body.skeletons import SMPL_PARENTS
from deformlearn.core.body.template import load_builtin_template
from deformlearn.core.metrics import mpjpe_mm, pa_mpjpe_mm, pa_mpve_mm
from deformlearn.core.registration.data import collate
from deformlearn.core.registration.fitter import BodyParams, register
from deformlearn.core.registration.settings import RegistrationSettings
from deformlearn.core.registration.synthetic import make_synthetic_people

SMPL_BONES = [(j, int(SMPL_PARENTS[j])) for j in range(1, 24)]


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: Rates above this many image-iterations per second are refused as impossible: an image-iteration skins,
#: differentiates and updates 100-200 points of a 24-joint body (~10^5 flops); 10^7 of them a second is
#: beyond any CPU and above what one GPU sustains at these sizes.
MAX_RATE = 1e7
#: Runs of each length timed; the medians are compared.
REPEATS = 3


def step_rate(images: int, short: list[float], long: list[float]) -> tuple[float | None, str | None]:
    """(image-iterations per second, None) from the timings (s) of runs `images` image-iterations apart, or
    (None, why) when the figure would not be physically possible: the long runs' median no longer than the
    short ones', their difference within the runs' own spread, or a rate above MAX_RATE."""
    med_s, med_l = float(np.median(short)), float(np.median(long))
    diff, spread = med_l - med_s, (max(short) - min(short)) + (max(long) - min(long))
    timings = f"medians {med_s:.4f} s and {med_l:.4f} s over {len(short)} runs each"
    if diff <= 0:
        return None, f"the longer run was not slower ({timings})"
    if diff < spread:
        return None, f"the difference {diff:.4f} s is within the runs' spread {spread:.4f} s ({timings})"
    rate = images / diff
    if rate > MAX_RATE:
        return None, f"{rate:.3g} image-iterations/s is above the possible {MAX_RATE:.0e} ({timings})"
    return rate, None


def throughput(body: BodyModel, people, batch_size: int, settings: RegistrationSettings) -> dict:
    """Image-iterations per second of the step loop at this batch size, by wall clock and by this process's
    CPU time (each None with a reason in "refused" when not possible, see `step_rate`). With other work
    sharing the cores the wall-clock figure is pessimistic; with one thread the CPU-time figure estimates an
    unshared core. Each run length is timed REPEATS times, interleaved, and the medians are used."""
    targets = [people[i % len(people)].targets for i in range(batch_size)]
    batch = collate(targets, device=settings.device)
    short, long = 5, 25 if batch_size >= 256 else 60
    register(body, batch, settings.with_(steps=short))  # warm-up
    wall: dict[int, list[float]] = {short: [], long: []}
    cpu: dict[int, list[float]] = {short: [], long: []}
    for _ in range(REPEATS):
        for steps in (short, long):
            if settings.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            register(body, batch, settings.with_(steps=steps))
            if settings.device.startswith("cuda"):
                torch.cuda.synchronize()
            wall[steps].append(time.perf_counter() - t0)
            cpu[steps].append(time.process_time() - c0)
    n = batch_size * (long - short)
    (by_wall, why_wall), (by_cpu, why_cpu) = step_rate(n, wall[short], wall[long]), step_rate(n, cpu[short], cpu[long])
    refused = {k: v for k, v in (("wall", why_wall), ("cpu", why_cpu)) if v}
    return {"wall": by_wall, "cpu": by_cpu, "refused": refused}


def _rounded(rate: float | None) -> int | None:
    return None if rate is None else round(rate)


def camera_joints_and_vertices(body: BodyModel, params: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(B, 24, 3) joints and (B, V, 3) vertices turned by each person's rotation (root at the origin)."""
    pose = torch.from_numpy(np.stack([np.asarray(d["pose"], np.float32).reshape(23, 3) for d in params]))
    scales = torch.from_numpy(np.stack([np.asarray(d["scales"], np.float32).reshape(24) for d in params]))
    with torch.no_grad():
        out = body(pose, scales, None)
    rot = torch.from_numpy(np.stack([np.asarray(d["rotation"], np.float32).reshape(3, 3) for d in params]))
    return (out.joints @ rot.transpose(1, 2)).numpy(), (out.vertices @ rot.transpose(1, 2)).numpy()


def rotation_errors_deg(fits, truth_rotations: np.ndarray) -> np.ndarray:
    est = np.stack([f.params["rotation"] for f in fits])
    cos = (np.einsum("bij,bij->b", est, truth_rotations) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def accuracy(body: BodyModel, targets, truth: list[dict], settings: RegistrationSettings, use_depths: bool) -> dict:
    batch = collate(targets, use_depths=use_depths, device=settings.device)
    gt_joints, gt_vertices = camera_joints_and_vertices(body, truth)
    out = {}
    first = register(body, batch, RegistrationSettings.round1(**settings_changes(settings)))
    init = BodyParams.from_dicts([f.params for f in first.fits])
    stages = {"round1": first,
              "round1+later100": register(body, batch, RegistrationSettings.later_round(**settings_changes(settings)),
                                          init=init),
              "round1+later300": register(body, batch, RegistrationSettings.later_round(
                  steps=300, **settings_changes(settings)), init=init)}
    for name, result in stages.items():
        fits = result.fits
        joints, vertices = camera_joints_and_vertices(body, [f.params for f in fits])
        out[name] = {
            "mpjpe_mm": round(mpjpe_mm(joints, gt_joints, root=0, bones=SMPL_BONES), 1),
            "pa_mpjpe_mm": round(pa_mpjpe_mm(joints, gt_joints), 1),
            "pa_per_vertex_mm": round(pa_mpve_mm(vertices, gt_vertices), 1),
            "per_pixel_px256": round(float(np.mean([f.dense_error_px for f in fits])), 3),
            "keypoint_px256": round(float(np.mean([f.keypoint_error_px for f in fits])), 3),
            "rotation_error_deg_median": round(float(np.median(rotation_errors_deg(
                fits, np.stack([t["rotation"] for t in truth])))), 1),
            "converged": int(sum(f.converged for f in fits)), "failed": int(sum(f.failed for f in fits)),
            "seconds": round(result.seconds, 1),
        }
    return out


def settings_changes(settings: RegistrationSettings) -> dict:
    return {"device": settings.device, "num_threads": settings.num_threads, "progress_every": 10_000}


def orientation(body: BodyModel, targets, truth: list[dict], settings: RegistrationSettings) -> dict:
    """Round 1, 2D only, with 1 and 4 starts: share of people whose rotation is off by > 30 and > 90 degrees."""
    batch = collate(targets, use_depths=False, device=settings.device)
    rotations = np.stack([t["rotation"] for t in truth])
    out = {}
    for starts in (1, 4):
        round1 = RegistrationSettings.round1(num_orientations=starts, **settings_changes(settings))
        errors = rotation_errors_deg(register(body, batch, round1).fits, rotations)
        out[f"{starts}_start{'s' if starts > 1 else ''}"] = {
            "off_over_30deg": round(float(np.mean(errors > 30)), 3),
            "off_over_90deg": round(float(np.mean(errors > 90)), 3),
            "median_deg": round(float(np.median(errors)), 1)}
    return out


def people_from_project(path: str, body: BodyModel) -> tuple[list, list[dict]]:
    from deformlearn.core.project.store import Project
    from deformlearn.core.registration.data import persons_from_project
    from deformlearn.core.rounds.loop import ensure_correspondences

    with Project.open(path) as project:
        ids = project.person_ids()
        key = ensure_correspondences(project, body.template, ids)
        targets = persons_from_project(project, [int(p) for p in ids], key)
        truth = [project.ground_truth(int(p)) for p in ids]
    if any(t is None or not {"pose", "scales", "rotation"} <= set(t) for t in truth):
        raise SystemExit(f"{path}: every person needs ground truth pose, scales and rotation")
    return targets, truth


def speed_by_threads(body: BodyModel, people, args: argparse.Namespace, speed: dict) -> dict:
    """Wall-clock speed per thread count in --speed-threads (plus the main run's), and the best per batch."""
    if not args.speed_threads:
        return {}
    main_threads = torch.get_num_threads()
    by_threads = {str(main_threads): speed}
    for n in (int(x) for x in args.speed_threads.split(",")):
        if str(n) in by_threads:
            continue
        torch.set_num_threads(n)
        settings = RegistrationSettings.later_round(device=args.device, num_threads=n, progress_every=10_000)
        by_threads[str(n)] = {str(b): _rounded(throughput(body, people, b, settings)["wall"])
                              for b in (int(x) for x in args.batches.split(","))}
    torch.set_num_threads(main_threads)
    best = {}
    for b in speed:
        measured = [(v[b], int(n)) for n, v in by_threads.items() if v[b] is not None]
        best[b] = max(measured) if measured else (None, None)
    return {"image_iterations_per_s_by_threads": by_threads,
            "best_image_iterations_per_s": {b: {"per_s": v, "threads": n} for b, (v, n) in best.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=64, help="synthetic people for the accuracy runs")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--speed-threads", default="", help="also measure speed with these thread counts, e.g. 1,2")
    parser.add_argument("--batches", default="1,64,256,512,1024")
    parser.add_argument("--project", default=None, help="take the accuracy people from this synth project")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load_at_start = round(os.getloadavg()[0], 2)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    body = BodyModel(load_builtin_template())
    settings = RegistrationSettings.later_round(device=args.device, num_threads=args.threads, progress_every=10_000)
    speed_people = make_synthetic_people(body, 64, seed=args.seed + 1)
    speed, speed_cpu, refused, memory = {}, {}, {}, {}
    for b in (int(x) for x in args.batches.split(",")):
        measured = throughput(body, speed_people, b, settings)
        speed[str(b)], speed_cpu[str(b)] = _rounded(measured["wall"]), _rounded(measured["cpu"])
        if measured["refused"]:
            refused[str(b)] = measured["refused"]
        memory[str(b)] = round(peak_memory_mb(args.device), 1)
    if args.project:
        targets, truth = people_from_project(args.project, body)
    else:
        people = make_synthetic_people(body, args.people, seed=args.seed, yaw_range=math.pi)
        targets = [p.targets for p in people]
        truth = [{"pose": p.pose, "scales": p.scales, "rotation": p.rotation} for p in people]
    result = {
        "benchmark": "registration", "device": args.device, "threads": torch.get_num_threads(),
        "template_vertices": body.num_vertices, "points_per_person": "100-200",
        "image_iterations_per_s": speed, "image_iterations_per_cpu_s": speed_cpu,
        "speed_refused": refused,
        **speed_by_threads(body, speed_people, args, speed),
        "load_average_1min_at_start": load_at_start, "load_average_1min": round(os.getloadavg()[0], 2),
        "peak_memory_mb_after_batch": memory,
        "people": len(targets), "data": args.project or "body-model synthetic, yaw 0-360 deg",
        "oracle_depths": accuracy(body, targets, truth, settings, use_depths=True),
        "2d_only": accuracy(body, targets, truth, settings, use_depths=False),
        "orientation_round1_2d": orientation(body, targets, truth, settings),
    }
    if not args.project:
        sparse = make_synthetic_people(body, args.people, seed=args.seed + 2, points=(20, 40), yaw_range=math.pi)
        result["orientation_round1_2d_sparse_20_40_points"] = orientation(
            body, [p.targets for p in sparse],
            [{"pose": p.pose, "scales": p.scales, "rotation": p.rotation} for p in sparse], settings)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
