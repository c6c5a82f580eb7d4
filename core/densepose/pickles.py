"""Readers for the two pickle inputs: detectron2 DensePose's `apply_net dump` file, and DensePose's
single-annotation demo pickle (`demo_dp_single_ann.pkl`).

Unpickling can run arbitrary code, so the dump is read only when the caller says it trusts the file
(`trust_pickle=True`, the command line's --trust-pickle). The demo pickle holds only numpy arrays and is read
with a restricted unpickler that refuses every other class, unless the file is trusted.
"""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path

import cv2
import numpy as np

from deformlearn.core.body.skeletons import NUM_PARTS
from deformlearn.core.densepose.annotation_files import find_image, image_size
from deformlearn.core.densepose.iuv_images import DEFAULT_POINTS_PER_PART, box_iuv_to_points
from deformlearn.core.densepose.records import AnnotationError, PersonAnnotation, dense_points, empty_keypoints

_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("numpy.core.numeric", "_frombuffer"),  # protocol 5's out-of-band form
    ("numpy._core.numeric", "_frombuffer"),
}
#: Pickle protocols 0-2 have no bytes type: Python 3 writes bytes as `_codecs.encode(text, "latin1")`.
_LATIN1_NAMES = {"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1"}


def _refuse(path: Path) -> AnnotationError:
    return AnnotationError(
        f"{path}: refusing to unpickle: loading a pickle can run code hidden in it; "
        "pass --trust-pickle (trust_pickle=True) only for a file you made or trust"
    )


def _latin1_bytes(text: object, encoding: object = "latin1", errors: object = "strict") -> bytes:
    """What `_codecs.encode` does in a protocol 0-2 pickle of bytes, and nothing else: latin-1 text to bytes."""
    if not isinstance(text, str) or not isinstance(encoding, str) or encoding.lower() not in _LATIN1_NAMES \
            or errors != "strict":
        raise pickle.UnpicklingError(f"_codecs.encode({type(text).__name__}, {encoding!r}) is not a latin-1 bytes "
                                     "value of a protocol 0-2 pickle")
    return text.encode("latin1")


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Numpy arrays, scalars and dtypes of any pickle protocol (0-2: their bytes as `_latin1_bytes`); every
    other global is refused before anything of it runs."""

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        raise pickle.UnpicklingError(f"global '{module}.{name}' is not a numpy array type")


class _Record:
    """Stands in for a detectron2/DensePose class that is not installed: keeps the pickled state."""

    def __init__(self, *args, **kwargs) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        if isinstance(state, dict):
            self.__dict__.update(state)


class _TrustedDumpUnpickler(pickle.Unpickler):
    """Resolves every class as usual (the file is trusted), except detectron2/DensePose classes, which
    become `_Record`s, so a dump reads without detectron2 installed; tensors load onto the CPU."""

    def find_class(self, module: str, name: str):
        if module.split(".")[0] in ("detectron2", "densepose"):
            return type(name, (_Record,), {})
        return super().find_class(module, name)


def _load(path: Path, unpickler: type[pickle.Unpickler], **kwargs) -> object:
    if not path.is_file():
        raise AnnotationError(f"{path}: file not found")
    try:
        with open(path, "rb") as f:
            return unpickler(f, **kwargs).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError, TypeError,
            IndexError, KeyError) as exc:
        raise AnnotationError(f"{path}: not a readable pickle of the expected kind ({exc})") from exc


def _to_numpy(value: object) -> np.ndarray:
    """torch tensors (on any device) and array-likes as numpy arrays."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def read_single_annotation_pickle(pkl_path: str | Path, *, trust_pickle: bool = False) -> list[PersonAnnotation]:
    """The one person of DensePose's demo annotation pickle: I, U, V, x, y (crop pixels) and the crop
    image ICrop (RGB), which comes back as the embedded BGR `image` of the annotation."""
    path = Path(pkl_path)
    unpickler = pickle.Unpickler if trust_pickle else _NumpyOnlyUnpickler
    data = _load(path, unpickler, encoding="latin1")
    need = ("I", "U", "V", "x", "y", "ICrop")
    if not isinstance(data, dict) or not all(k in data for k in need):
        raise AnnotationError(f"{path}: expected a dict with arrays {list(need)}")
    try:
        arrays = {k: np.asarray(data[k], dtype=np.float64).reshape(-1) for k in need[:5]}
    except (TypeError, ValueError) as exc:
        raise AnnotationError(f"{path}: I, U, V, x, y must be numeric arrays ({exc})") from exc
    crop = np.asarray(data["ICrop"])
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.dtype != np.uint8:
        raise AnnotationError(f"{path}: 'ICrop' must be an (H, W, 3) uint8 image, got {crop.shape} {crop.dtype}")
    n = len(arrays["I"])
    if any(len(a) != n for a in arrays.values()):
        raise AnnotationError(f"{path}: I, U, V, x, y differ in length")
    if not np.isin(arrays["I"], np.arange(1, NUM_PARTS + 1)).all():
        raise AnnotationError(f"{path}: 'I' must hold part indices 1..{NUM_PARTS}")
    H, W = crop.shape[:2]
    dense = dense_points(f"{path}: person 0", xy=np.stack([arrays["x"], arrays["y"]], axis=1),
                         part=arrays["I"].astype(np.int64), uv=np.stack([arrays["U"], arrays["V"]], axis=1))
    return [PersonAnnotation(
        image_file=f"{path.stem}_ICrop.png", image_size=(W, H), bbox=np.array([0, 0, W, H]),
        keypoints=empty_keypoints(), dense=dense, source_key=f"{path.name}#0",
        image=np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)),
    )]


def read_detectron2_dump(pkl_path: str | Path, *, trust_pickle: bool = False, images_dir: str | Path | None = None,
                         min_score: float = 0.5, points_per_part: int = DEFAULT_POINTS_PER_PART,
                         seed: int = 0) -> list[PersonAnnotation]:
    """People of detectron2 DensePose `apply_net dump` output: a list of per-image dicts with `file_name`,
    `scores` (K,), `pred_boxes_XYXY` (K, 4) and `pred_densepose` (K chart results with `labels` (h, w) part
    0..24 and `uv` (2, h, w) in [0, 1] over the box). Images are looked up at `file_name`, else by its
    base name under `images_dir`. Refuses (AnnotationError) unless `trust_pickle`."""
    path = Path(pkl_path)
    if not trust_pickle:
        raise _refuse(path)
    data = _load(path, _TrustedDumpUnpickler)
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected a list of per-image results from 'apply_net dump'")
    people = []
    for k, entry in enumerate(data):
        where = f"{path}: entry {k}"
        if not isinstance(entry, dict) or not all(
                key in entry for key in ("file_name", "scores", "pred_boxes_XYXY", "pred_densepose")):
            raise AnnotationError(f"{where}: needs 'file_name', 'scores', 'pred_boxes_XYXY', 'pred_densepose'")
        name = str(entry["file_name"])
        image_file = Path(name) if Path(name).is_file() else (
            find_image(Path(images_dir), Path(name).name) if images_dir is not None else None)
        if image_file is None:
            raise AnnotationError(f"{where}: image '{name}' not found" + (f" in {images_dir}" if images_dir else
                                                                         " (pass --images DIR)"))
        scores = _to_numpy(entry["scores"]).reshape(-1)
        boxes = _to_numpy(entry["pred_boxes_XYXY"]).reshape(-1, 4)
        results = entry["pred_densepose"]
        results = list(getattr(results, "results", results))
        if not (len(scores) == len(boxes) == len(results)):
            raise AnnotationError(f"{where}: {len(scores)} scores, {len(boxes)} boxes, {len(results)} densepose results")
        for i, (score, box, res) in enumerate(zip(scores, boxes, results)):
            if score < min_score:
                continue
            if not hasattr(res, "labels") or not hasattr(res, "uv"):
                raise AnnotationError(f"{where}: densepose result {i} has no 'labels'/'uv' (unsupported dump layout)")
            labels, uv = _to_numpy(res.labels).astype(np.int64), _to_numpy(res.uv).astype(np.float32)
            if labels.ndim != 2 or uv.shape != (2, *labels.shape):
                raise AnnotationError(f"{where}: result {i}: labels {labels.shape} and uv {uv.shape} do not match")
            if not (labels > 0).any():
                continue
            key = f"{path.name}#{k}/{i}"
            rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
            dense = box_iuv_to_points(labels, uv[0], uv[1], box, points_per_part, rng, f"{where}: result {i}")
            bbox = np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]])
            people.append(PersonAnnotation(
                image_file=str(image_file), image_size=image_size(image_file), bbox=bbox,
                keypoints=empty_keypoints(), dense=dense, source_key=key, score=float(score),
            ))
    return people
