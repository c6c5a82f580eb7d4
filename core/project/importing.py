"""Put what the readers return into a project, with template correspondences, in short transactions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deformlearn.core.body.template import Template
from deformlearn.core.densepose.correspondence import map_to_vertices, template_key
from deformlearn.core.densepose.records import PersonAnnotation
from deformlearn.core.files.atomic import atomic_write
from deformlearn.core.project.people import check_keypoints
from deformlearn.core.project.store import Project, ProjectError
from deformlearn.core.project.templates import load_project_template

EMBEDDED_IMAGES_DIR = "images"
#: People written per transaction: a long import never holds the write lock for long, and a killed one
#: leaves whole chunks that a re-import completes (people are identified by content).
IMPORT_CHUNK = 500

__all__ = ["EMBEDDED_IMAGES_DIR", "IMPORT_CHUNK", "ImportReport", "import_people", "load_project_template"]


@dataclass(frozen=True)
class ImportReport:
    """What an import did. residual_mean: mean UV residual of the new correspondences (nan if none)."""

    read: int
    added: int
    already_present: int
    with_dense: int
    images: int
    template_key: str | None
    residual_mean: float
    overlaps: tuple[str, ...] = ()


#: Two people of one image whose boxes overlap by at least this IoU are likely one person found twice
#: (DensePose's INDS can split a person into two instances). On the real samples the one such pair (IoU 0.74)
#: is the man on the rickshaw in demo_im.jpg; every other pair of its 12 people overlaps by 0.32 or less.
DUPLICATE_IOU = 0.5


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (4,) x, y, w, h boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, float(w)) * max(0.0, float(h))
    union = float(a[2] * a[3] + b[2] * b[3]) - inter
    return inter / union if union > 0 else 0.0


def overlapping_people(people: list[PersonAnnotation], min_iou: float = DUPLICATE_IOU) -> tuple[str, ...]:
    """A message per pair of people on one image whose boxes overlap by IoU >= min_iou (likely one person
    found twice), naming the image, both boxes and the IoU."""
    by_image: dict[str, list[PersonAnnotation]] = {}
    for person in people:
        by_image.setdefault(person.image_file, []).append(person)
    out = []
    for image, group in by_image.items():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if (iou := _box_iou(a.bbox, b.bbox)) >= min_iou:
                    box = ", ".join(f"x {q[0]:.0f} y {q[1]:.0f} w {q[2]:.0f} h {q[3]:.0f}" for q in (a.bbox, b.bbox))
                    out.append(f"{Path(image).name}: two people's boxes overlap by IoU {iou:.2f} ({box}): "
                               "probably one person found twice; review both and reject one")
    return tuple(out)


def _write_embedded_image(project: Project, name: str, image: np.ndarray) -> tuple[Path, bool]:
    """Store an image that came inside the input file under images/ (atomically); return its path and whether
    this call created the file. A file of that name holding other bytes (another input's image of the same
    name) is kept: this one goes beside it, its name ending in the first 10 hex digits of its SHA-1."""
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ProjectError(f"{project.root / EMBEDDED_IMAGES_DIR / Path(name).name}: could not encode the "
                           "embedded image")
    data = data.tobytes()
    path = project.root / EMBEDDED_IMAGES_DIR / Path(name).name
    if path.is_file() and path.read_bytes() != data:
        path = path.with_stem(f"{path.stem}_{hashlib.sha1(data).hexdigest()[:10]}")
    if path.is_file() and path.read_bytes() == data:
        return path, False
    return atomic_write(path, data), True


def _drop_unused(project: Project, image_ids: set[int], written: set[Path]) -> set[int]:
    """Remove the images of `image_ids` left without people (all of theirs were already in the project under
    another file name) and the embedded image files this import wrote for them; return the ids removed."""
    dropped = project.drop_images_without_people(image_ids)
    for file in dropped.values():
        if Path(file) in written:
            Path(file).unlink(missing_ok=True)
    return set(dropped)


def check_people(people: list[PersonAnnotation]) -> None:
    """ValueError naming the person's source ("file.json#ann=7") for a box or keypoints that are not finite
    once converted to float32, as the project stores them (1e39 becomes inf). Dense points need no check:
    DensePoints refuses such values when it is made."""
    for person in people:
        check_keypoints(person.keypoints, person.source_key)
        if not np.all(np.isfinite(np.asarray(person.bbox, np.float32))):
            raise ValueError(f"{person.source_key}: bbox holds non-finite values after conversion to float32")


def import_people(project: Project, people: list[PersonAnnotation], template: Template | None) -> ImportReport:
    """Add `people` (and their images) to `project`, IMPORT_CHUNK people per transaction, after checking all
    of them (a bad one writes nothing); people already there (same image bytes and annotation) are skipped,
    and the images this import added for them alone are removed again (with the embedded crops it wrote).
    With a template, each new person's dense points get their template vertices."""
    check_people(people)
    key = None if template is None else template_key(template)
    image_files, written = {}, set()
    for person in people:
        if person.image is not None and person.image_file not in image_files:
            file, created = _write_embedded_image(project, person.image_file, person.image)
            image_files[person.image_file] = file
            if created:
                written.add(file)
    added, residuals, image_ids, without_new = 0, [], set(), set()
    for start in range(0, len(people), IMPORT_CHUNK):
        with project.transaction():
            for person in people[start:start + IMPORT_CHUNK]:
                image_id = project.add_image(image_files.get(person.image_file, person.image_file),
                                             *person.image_size, iuv_file=person.iuv_file, inds_file=person.inds_file)
                image_ids.add(image_id)
                person_id = project.add_person(
                    image_id, bbox=person.bbox, keypoints=person.keypoints, dense=person.dense,
                    source_key=person.source_key, coarse_mask=person.coarse_mask, score=person.score,
                )
                if person_id is None:
                    without_new.add(image_id)
                    continue
                added += 1
                if key is not None and person.dense is not None and len(person.dense):
                    vertex, residual = map_to_vertices(template, person.dense.part, person.dense.uv)
                    project.set_correspondences(person_id, key, vertex, residual)
                    residuals.append(residual)
    image_ids -= _drop_unused(project, without_new, written)
    return ImportReport(
        read=len(people), added=added, already_present=len(people) - added,
        with_dense=sum(p.dense is not None and len(p.dense) > 0 for p in people), images=len(image_ids),
        template_key=key, residual_mean=float(np.concatenate(residuals).mean()) if residuals else float("nan"),
        overlaps=overlapping_people(people),
    )
