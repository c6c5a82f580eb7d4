"""Benchmark of the offline pose detector (core.detection) on the annotated real people of ../shared/data: COCO
val2017 people (test_coco.json) and the four Human3.6M frames (h36m_coco.json), each cropped by its annotated box.
Prints one JSON line: start time, time per crop, how many people were found, and the keypoint error against the
annotation (median pixels, median relative to the box's longer side, PCK at 0.1 of it) over keypoints both
annotate and detect.

    python benchmarks/pose_detection.py        (needs `deformlearn detector install` and ../shared/data)
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from deformlearn.core.densepose.readers import read_people
from deformlearn.core.detection import PoseDetector, detect_keypoints

SHARED = Path(os.environ.get("DEFORMLEARN_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def annotated_people() -> dict[str, list]:
    """name -> people with annotated keypoints and an image on disk."""
    coco = read_people("coco-keypoints", SHARED / "coco" / "test_coco.json", images_dir=SHARED / "coco")
    # h36m_coco.json names Human3.6M's 17 joints: the reader maps them to COCO-17 (12 joints, no face; its hips
    # are joint centres) and finds the images in the S*/ folders below.
    h36m = [p for p in read_people("coco-keypoints", SHARED / "h36m" / "h36m_coco.json", images_dir=SHARED / "h36m")
            if not p.image_missing]
    return {"coco": [p for p in coco if (p.keypoints[:, 2] > 0).sum() >= 5], "h36m": h36m}


def errors(people: list, detected: list[np.ndarray]) -> dict:
    rel, px, found = [], [], 0
    for person, kp in zip(people, detected):
        both = (person.keypoints[:, 2] > 0) & (kp[:, 2] > 0)
        found += int((kp[:, 2] > 0).any())
        d = np.linalg.norm(person.keypoints[both, :2] - kp[both, :2], axis=1)
        px.append(d)
        rel.append(d / max(person.bbox[2], person.bbox[3]))
    px, rel = np.concatenate(px), np.concatenate(rel)
    return {"people": len(people), "found": found, "keypoints_compared": int(len(px)),
            "median_px": round(float(np.median(px)), 2), "median_rel_box": round(float(np.median(rel)), 4),
            "pck_0.1": round(float((rel < 0.1).mean()), 3)}


def main() -> None:
    sets = annotated_people()
    t0 = time.perf_counter()
    with PoseDetector() as detector:
        start_s = time.perf_counter() - t0
        result = {"benchmark": "pose_detection", "detector": f"mediapipe {detector.version} BlazePose full",
                  "start_s": round(start_s, 2)}
        crops, spent = 0, 0.0
        for name, people in sets.items():
            t = time.perf_counter()
            detected, _ = detect_keypoints(people, detector)
            spent += time.perf_counter() - t
            crops += len(people)
            result[name] = errors(people, detected)
    result["ms_per_crop"] = round(1000 * spent / crops, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
