"""A rigged, posed glTF 2.0 body (pygltflib): the template's skeleton and skin with a fit's pose on the nodes.

What the file holds (Blender, game engines and three.js open it as an animatable body):
- the mesh in the template's rest T-pose (bind pose), SMPL's frame, metres, y up, facing +z (glTF's own
  axes); welded (seam duplicates merged) or, with `uv=True`, all template vertices with TEXCOORD_0 into the
  DensePose atlas and the atlas embedded as the base colour texture;
- 24 joint nodes named with SMPL's joint names, parented as SMPL's tree, with inverse bind matrices
  T(-J_j) (rest joint j at J_j, rest orientation identity);
- skin weights: each vertex's 4 largest template weights, renormalised to sum to 1 (JOINTS_0 / WEIGHTS_0);
- the fitted pose on the nodes: joint j's rotation is its relative rotation from the fit; the root's rotation
  is the fit's global orientation in the canonical frame (F R, F = diag(1, -1, -1)) and its translation the
  camera translation in metres (`core.export.common`, frame "canonical"), so the posed glTF equals the
  "canonical" mesh export up to the top-4 weight truncation.
- Segment scales are node scales, exactly (no baking): the model scales segment j by s_j about joint j and
  places the children s_p times farther, while a glTF node's scale is inherited by its children; with
  isotropic scales, node scale s_j / s_parent(j) (root: s_0) gives every joint the global scale s_j and
  reproduces both effects.
Resetting the nodes to their rest rotations (Blender: Pose > Clear Transform) gives the T-pose.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pygltflib as gl
import torch

from deformlearn.core.body.rotations import axis_angle_to_quaternion, rotmat_to_quaternion
from deformlearn.core.body.template import Template
from deformlearn.core.export.common import ExportError, atomic_write, frame_transform, weld
from deformlearn.core.render import vertex_normals

MAX_INFLUENCES = 4


def top_weights(skin_weights: np.ndarray, k: int = MAX_INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """(V, J) weights -> (joints (V, k) uint8, weights (V, k) float32): each vertex's k largest, sum 1."""
    order = np.argsort(-skin_weights, axis=1, kind="stable")[:, :k]
    weights = np.take_along_axis(skin_weights, order, axis=1).astype(np.float64)
    weights /= np.maximum(weights.sum(1, keepdims=True), 1e-12)
    weights = weights.astype(np.float32)
    weights[:, 0] += 1.0 - weights.sum(1)  # exact float32 sums (glTF validators check them)
    return order.astype(np.uint8), weights


class _Blob:
    """Binary buffer with 4-byte aligned buffer views and their accessors."""

    def __init__(self, gltf: gl.GLTF2) -> None:
        self.gltf = gltf
        self.data = bytearray()

    def view(self, payload: bytes, target: int | None = None) -> int:
        self.data += b"\0" * (-len(self.data) % 4)
        self.gltf.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(payload),
                                                   target=target))
        self.data += payload
        return len(self.gltf.bufferViews) - 1

    def accessor(self, array: np.ndarray, kind: str, component: int, *, target: int | None = None,
                 bounds: bool = False) -> int:
        view = self.view(np.ascontiguousarray(array).tobytes(), target)
        flat = array.reshape(len(array), -1)
        self.gltf.accessors.append(gl.Accessor(
            bufferView=view, componentType=component, count=len(array), type=kind,
            min=flat.min(0).tolist() if bounds else None, max=flat.max(0).tolist() if bounds else None))
        return len(self.gltf.accessors) - 1


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _joint_nodes(template: Template, params: dict) -> list[gl.Node]:
    """24 nodes (index = joint index) with rest offsets and the fitted rotations and scales."""
    pose = np.asarray(params["pose"], dtype=np.float64)
    scales = np.asarray(params["scales"], dtype=np.float64)
    if pose.shape != (23, 3) or scales.shape != (24,):
        raise ExportError(f"rigged glTF: pose {pose.shape} / scales {scales.shape}, expected (23, 3) / (24,)")
    if np.any(scales <= 0):
        raise ExportError("rigged glTF: segment scales must be positive")
    A, b = frame_transform(params, "canonical")
    quats = axis_angle_to_quaternion(torch.as_tensor(pose)).numpy()
    root_quat = rotmat_to_quaternion(torch.as_tensor(A)).numpy()
    joints, parents = template.rest_joints.astype(np.float64), template.parents
    children = [[c for c in range(len(parents)) if parents[c] == j] for j in range(len(parents))]
    nodes = []
    for j, name in enumerate(template.joint_names):
        p = int(parents[j])
        if p < 0:
            translation, rotation, scale = b, root_quat, scales[0]
        else:
            translation, rotation, scale = joints[j] - joints[p], quats[j - 1], scales[j] / scales[p]
        nodes.append(gl.Node(name=name, translation=[float(x) for x in translation],
                             rotation=[float(x) for x in rotation], scale=[float(scale)] * 3,
                             children=children[j] or None))
    return nodes


def rigged_gltf(template: Template, params: dict, *, uv: bool = False,
                atlas: np.ndarray | None = None) -> tuple[gl.GLTF2, bytes]:
    """Build the rigged glTF document and its binary buffer (see the module docstring)."""
    if uv:
        from deformlearn.core.render.offscreen import atlas_texcoords, load_atlas

        keep, faces = np.arange(template.num_vertices), template.faces
        atlas = load_atlas(None) if atlas is None else np.asarray(atlas)
        texcoords = atlas_texcoords(template.vertex_part, template.vertex_uv, atlas.shape)
        texcoords = np.stack([texcoords[:, 0], 1.0 - texcoords[:, 1]], 1)  # glTF's t runs down the image
    else:
        keep, faces = weld(template)
    vertices = template.rest_vertices[keep].astype(np.float32)
    joint_index, weights = top_weights(template.skin_weights[keep])
    gltf = gl.GLTF2(asset=gl.Asset(generator="deformlearn", version="2.0"))
    blob = _Blob(gltf)
    attributes = gl.Attributes(
        POSITION=blob.accessor(vertices, gl.VEC3, gl.FLOAT, target=gl.ARRAY_BUFFER, bounds=True),
        NORMAL=blob.accessor(vertex_normals(vertices, faces).astype(np.float32), gl.VEC3, gl.FLOAT,
                             target=gl.ARRAY_BUFFER),
        JOINTS_0=blob.accessor(joint_index, gl.VEC4, gl.UNSIGNED_BYTE, target=gl.ARRAY_BUFFER),
        WEIGHTS_0=blob.accessor(weights, gl.VEC4, gl.FLOAT, target=gl.ARRAY_BUFFER),
    )
    material = gl.Material(name="body", doubleSided=False, pbrMetallicRoughness=gl.PbrMetallicRoughness(
        baseColorFactor=[0.8, 0.8, 0.8, 1.0], metallicFactor=0.0, roughnessFactor=0.8))
    if uv:
        attributes.TEXCOORD_0 = blob.accessor(texcoords.astype(np.float32), gl.VEC2, gl.FLOAT,
                                              target=gl.ARRAY_BUFFER)
        gltf.images.append(gl.Image(bufferView=blob.view(_png_bytes(atlas)), mimeType="image/png"))
        gltf.samplers.append(gl.Sampler(magFilter=gl.LINEAR, minFilter=gl.LINEAR))
        gltf.textures.append(gl.Texture(source=0, sampler=0))
        material.pbrMetallicRoughness.baseColorFactor = [1.0, 1.0, 1.0, 1.0]
        material.pbrMetallicRoughness.baseColorTexture = gl.TextureInfo(index=0)
    indices = blob.accessor(faces.reshape(-1).astype(np.uint32), gl.SCALAR, gl.UNSIGNED_INT,
                            target=gl.ELEMENT_ARRAY_BUFFER)
    gltf.materials.append(material)
    gltf.meshes.append(gl.Mesh(name="body", primitives=[gl.Primitive(attributes=attributes, indices=indices,
                                                                       material=0)]))
    J = len(template.joint_names)
    ibm = np.tile(np.eye(4, dtype=np.float32), (J, 1, 1))
    ibm[:, :3, 3] = -template.rest_joints
    ibm_accessor = blob.accessor(np.ascontiguousarray(ibm.transpose(0, 2, 1)), gl.MAT4, gl.FLOAT)  # column-major
    gltf.nodes = _joint_nodes(template, params)
    gltf.nodes.append(gl.Node(name="body", mesh=0, skin=0))
    gltf.skins.append(gl.Skin(name="smpl_skeleton", joints=list(range(J)), skeleton=0,
                              inverseBindMatrices=ibm_accessor))
    gltf.scenes.append(gl.Scene(name="fit", nodes=[0, J]))
    gltf.scene = 0
    data = bytes(blob.data) + b"\0" * (-len(blob.data) % 4)
    gltf.buffers.append(gl.Buffer(byteLength=len(data)))
    return gltf, data


def export_rigged_gltf(template: Template, params: dict, path: str | Path, *, uv: bool = False,
                       atlas: np.ndarray | None = None) -> Path:
    """Write a rigged, posed body as .glb (binary) or .gltf (JSON with the buffer as a data URI), atomically.

    params: a fit's pose (23, 3), scales (24,), rotation (3, 3), scale (), translation (2,) (normalised frame).
    """
    path = Path(path)
    gltf, data = rigged_gltf(template, params, uv=uv, atlas=atlas)
    kind = path.suffix.lower()
    if kind == ".glb":
        gltf.set_binary_blob(data)
        return atomic_write(path, b"".join(gltf.save_to_bytes()))
    if kind == ".gltf":
        gltf.buffers[0].uri = "data:application/octet-stream;base64," + base64.b64encode(data).decode("ascii")
        return atomic_write(path, gltf.to_json().encode("utf-8"))
    raise ExportError(f"{path}: rigged export needs a .glb or .gltf file name")


__all__ = ["MAX_INFLUENCES", "top_weights", "rigged_gltf", "export_rigged_gltf"]
