"""Benchmark: build a project of N images/persons (with ~120 dense points each; every 10th fitted, a third of
those failed), then time opening it, the first page of the people list, and the count and first page under
each fit-status filter (by id and by error). Prints one JSON line.

    python benchmarks/project_open.py [--n 100000] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.project.records import FIT_FILTERS
from deformlearn.core.project.store import FitRecord, Project


def build(root: Path, n: int) -> float:
    rng = np.random.default_rng(0)
    dense = DensePoints(xy=rng.random((120, 2)) * 200, part=rng.integers(1, 25, 120), uv=rng.random((120, 2)))
    keypoints = np.zeros((17, 3), np.float32)
    t0 = time.perf_counter()
    with Project.create(root) as project, project.transaction():
        for i in range(n):
            image_id = project.add_image(f"/data/images/{i:08d}.jpg", 640, 480)
            pid = project.add_person(image_id, bbox=[10, 20, 100, 200], keypoints=keypoints, dense=dense,
                                     source_key=f"bench#{i}")
            if i % 10 == 0:
                status = "failed" if i % 30 == 0 else "converged"
                project.save_fits([FitRecord(pid, 0, {"pose": np.zeros((23, 3), np.float32)},
                                             {"error": float(rng.random())}, status)])
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dir", help="folder to build the project in (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.dir or tmp) / "bench_project"
        build_s = build(root, args.n)
        t0 = time.perf_counter()
        project = Project.open(root)
        open_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        count = project.count_persons()
        rows = project.list_persons(offset=0, limit=100, order_by="error", descending=True)
        page_s = time.perf_counter() - t0
        filtered = {}
        for fit_status in FIT_FILTERS:
            for order_by in ("id", "error"):
                t0 = time.perf_counter()
                n = project.count_persons(fit_status=fit_status)
                project.list_persons(offset=0, limit=100, order_by=order_by, descending=order_by == "error",
                                     fit_status=fit_status)
                filtered[f"{fit_status}_by_{order_by}_s"] = round(time.perf_counter() - t0, 5)
            filtered[f"{fit_status}_count"] = n
        project.close()
        print(json.dumps({"benchmark": "project_open", "persons": count, "build_s": round(build_s, 2),
                          "open_s": round(open_s, 5), "count_and_first_page_s": round(page_s, 5),
                          "page_rows": len(rows), "fit_filter_count_and_first_page": filtered}))


if __name__ == "__main__":
    main()
