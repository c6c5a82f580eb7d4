"""2D keypoints for people that have none: BlazePose run per person crop in the detector's own environment.

`PoseDetector` drives core.detection.mediapipe_worker as a subprocess (JSON lines; the protocol is in that
file). `detect_keypoints` crops each person by its box (from the INDS instance or the IUV mask it was read
from), greys out other INDS instances inside the crop, and maps the landmarks to COCO-17 with their
visibilities as confidences (core.detection.landmarks). `detect_in_project` does the same for a project's
stored people.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from deformlearn.core.body.skeletons import NUM_KEYPOINTS
from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.detection.environment import detector_python
from deformlearn.core.detection.landmarks import NUM_LANDMARKS, blazepose_to_coco, crop_box, person_crop

WORKER = Path(__file__).with_name("mediapipe_worker.py")


class DetectorError(RuntimeError):
    """The detector process failed; the message carries the end of its log."""


class PersonLike(Protocol):
    """What detection reads of a person: a PersonAnnotation or a stored PersonRecord."""

    image_file: str
    bbox: np.ndarray
    inds_file: str | None
    dense: DensePoints | None


class PoseDetector:
    """One running detector process; a context manager. DetectorNotInstalled when its environment is absent."""

    def __init__(self, python: Path | None = None) -> None:
        python = detector_python() if python is None else python
        self._dir = tempfile.TemporaryDirectory(prefix="deformlearn-detect-")
        self._log = open(Path(self._dir.name) / "worker.log", "w+")
        env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self._proc = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._log, text=True, env=env)
        ready = self._reply()
        if not ready.get("ready"):
            raise DetectorError(f"the detector did not start: {ready}")
        self.version = str(ready.get("mediapipe"))

    def _reply(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            self._log.flush()
            self._log.seek(0)
            tail = self._log.read()[-1500:]
            hint = "; reinstall it with `deformlearn detector install`" if "ModuleNotFoundError" in tail else ""
            raise DetectorError(f"the detector process ended (exit {self._proc.wait()}){hint}:\n{tail}")
        return json.loads(line)

    def landmarks(self, crop: np.ndarray) -> np.ndarray | None:
        """(33, 3) landmarks (x, y fractions of the crop, visibility) of the person in `crop` (h, w, 3)
        uint8 BGR, or None when BlazePose finds nobody."""
        path = Path(self._dir.name) / "crop.png"
        if not cv2.imwrite(str(path), crop):
            raise DetectorError(f"{path}: could not write the crop")
        self._proc.stdin.write(json.dumps({"crop": str(path)}) + "\n")
        self._proc.stdin.flush()
        reply = self._reply()
        if "error" in reply:
            raise DetectorError(f"the detector failed on a crop: {reply['error']}")
        found = reply["landmarks"]
        return None if found is None else np.asarray(found, np.float64).reshape(NUM_LANDMARKS, 3)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
        self._dir.cleanup()

    def __enter__(self) -> PoseDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class DetectionReport:
    """people: asked for; found: with at least one keypoint; no_image: skipped, their image is not on disk;
    missed: indices (into the people asked for) of those left without any keypoint, in order."""

    people: int
    found: int
    no_image: int
    missed: tuple[int, ...] = ()


def _other_people(person: PersonLike, cache: dict) -> np.ndarray | None:
    """(H, W) bool: pixels of other INDS instances than this person's (the most common one under its dense
    points, else at its box centre), or None without an INDS image."""
    if not person.inds_file:
        return None
    if person.inds_file not in cache:
        inds = cv2.imread(person.inds_file, cv2.IMREAD_UNCHANGED)
        cache[person.inds_file] = None if inds is None else (inds[..., 0] if inds.ndim == 3 else inds)
    inds = cache[person.inds_file]
    if inds is None:
        return None
    H, W = inds.shape
    if person.dense is not None and len(person.dense):
        col, row = np.round(person.dense.xy).astype(np.int64).T
        labels = inds[np.clip(row, 0, H - 1), np.clip(col, 0, W - 1)]
    else:
        x, y, w, h = person.bbox
        labels = inds[int(np.clip(y + h / 2, 0, H - 1)), int(np.clip(x + w / 2, 0, W - 1))].reshape(1)
    labels = labels[labels > 0]
    if not len(labels):
        return None
    own = np.bincount(labels.astype(np.int64)).argmax()
    return (inds > 0) & (inds != own)


def detect_keypoints(people: Sequence[PersonLike], detector: PoseDetector,
                     progress: Callable[[int, int], None] | None = None) -> tuple[list[np.ndarray], DetectionReport]:
    """(17, 3) float32 COCO-17 keypoints (image pixels + visibility, zeros where not found) for each person,
    and a report. People whose image is not on disk get zeros and count in `no_image`."""
    images: dict[str, np.ndarray | None] = {}
    inds_cache: dict = {}
    out, found, no_image = [], 0, 0
    for k, person in enumerate(people):
        if person.image_file not in images:
            images[person.image_file] = cv2.imread(person.image_file, cv2.IMREAD_COLOR)
        image = images[person.image_file]
        kp = np.zeros((NUM_KEYPOINTS, 3), np.float32)
        if image is None:
            no_image += 1
        else:
            size = (image.shape[1], image.shape[0])
            box = crop_box(person.bbox, size)
            landmarks = detector.landmarks(person_crop(image, box, _other_people(person, inds_cache)))
            if landmarks is not None:
                kp = blazepose_to_coco(landmarks, box, size)
                found += int((kp[:, 2] > 0).any())
        out.append(kp)
        if progress is not None:
            progress(k + 1, len(people))
    missed = tuple(k for k, kp in enumerate(out) if not (kp[:, 2] > 0).any())
    return out, DetectionReport(people=len(people), found=found, no_image=no_image, missed=missed)


def detect_in_project(project, *, overwrite: bool = False, detector: PoseDetector | None = None,
                      progress: Callable[[int, int], None] | None = None) -> DetectionReport:
    """Detect keypoints for the project's people that have no visible keypoint (every person with
    `overwrite`) and store them (Project.update_annotation), in one transaction."""
    ids = [pid for pid in project.person_ids()
           if overwrite or not (np.asarray(project.person(pid).keypoints)[:, 2] > 0).any()]
    records = [project.person(pid) for pid in ids]
    own = detector is None
    detector = PoseDetector() if own else detector
    try:
        keypoints, report = detect_keypoints(records, detector, progress)
    finally:
        if own:
            detector.close()
    with project.transaction():
        for pid, kp in zip(ids, keypoints):
            if (kp[:, 2] > 0).any():
                project.update_annotation(pid, keypoints=kp)
    return replace(report, missed=tuple(ids[k] for k in report.missed))

