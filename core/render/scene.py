"""One description of everything drawn in 3D: a camera and the things to draw (meshes, points, skeletons).

The app's viewport and every headless picture (`template --render`, screenshots, synthetic images) fill a
`Scene` and hand it to the one `SceneRenderer` (core/render/renderer.py). The objects hold plain numpy data
and version counters (aitviewer's dirty flags): the renderer uploads a mesh's positions again only when its
`geometry_version` moved, and rebuilds it only when its `appearance_version` did. The `set_*` methods
replace arrays, never write into them, so a `Scene.snapshot()` handed to another thread stays valid.

Frames (the one camera convention):
- world: whatever frame the points are given in; the app uses the viewer frame (metres, y up, facing +z,
  body-left +x), headless image renders the image frame itself (see `Camera.image_frame`).
- view: world rotated by the camera (azimuth about world y, then elevation about x), centred on the
  target and panned: x right, y up, z towards the viewer (OpenGL's camera frame, shifted).
- screen: pixels, x right, y down, origin at the top-left corner of the top-left pixel (pixel [r, c] covers
  x in [c, c + 1), y in [r, r + 1)): the frame the exact rasteriser and the overlays use.
The camera is orthographic (the method's weak-perspective camera is orthographic up to scale).
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from deformlearn.core.shape_checks import check_shape

#: View preset -> (azimuth, elevation) degrees. "side" looks at the body's right side, its front to the
#: screen's right; "top" looks down from above the head.
VIEWS: dict[str, tuple[float, float]] = {"front": (0.0, 0.0), "side": (90.0, 0.0), "back": (180.0, 0.0),
                                         "top": (0.0, 90.0)}

_uids = itertools.count(1)


@dataclass
class Camera:
    """An orthographic orbit camera.

    Attributes:
        azimuth: degrees about the world's y axis (0 looks along world -z, at the front of a body facing +z).
        elevation: degrees about the view's x axis after the azimuth (90 looks down along world -y).
        extent: world units the view's height spans at zoom 1.
        zoom: magnification (2 shows half the extent).
        target: (3,) world point at the centre of the view.
        pan: (2,) view-frame shift in world units (x right, y up).
    """

    azimuth: float = 0.0
    elevation: float = 0.0
    extent: float = 2.2
    zoom: float = 1.0
    target: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pan: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def __post_init__(self) -> None:
        self.target = np.asarray(self.target, np.float64).reshape(3)
        self.pan = np.asarray(self.pan, np.float64).reshape(2)

    @classmethod
    def image_frame(cls, width: int, height: int) -> Camera:
        """The camera whose screen frame is the world frame: world x right and y down in pixels, z away from
        the viewer (the frame of `OffscreenRenderer.render`'s vertices_px)."""
        return cls(elevation=180.0, extent=float(height), target=np.array([width / 2, height / 2, 0.0]))

    def set_view(self, name: str) -> None:
        """Turn to a preset of `VIEWS` and undo zoom and pan (the whole framed body is in view again)."""
        if name not in VIEWS:
            raise ValueError(f"unknown view {name!r}; expected one of {tuple(VIEWS)}")
        self.azimuth, self.elevation = VIEWS[name]
        self.zoom = 1.0
        self.pan = np.zeros(2)

    def frame(self, points: np.ndarray, margin: float = 0.06) -> None:
        """Centre on (N, 3) world points and fit their largest extent (any axis, so every view of them keeps
        one scale) in the view's height, leaving `margin` of it free at each side; zoom and pan reset."""
        check_shape(points, ("N", 3), "points")
        lo, hi = np.min(points, 0), np.max(points, 0)
        self.target = (lo + hi) / 2
        self.extent = max(float(np.max(hi - lo)), 1e-6) / (1 - 2 * margin)
        self.zoom = 1.0
        self.pan = np.zeros(2)

    def rotation(self) -> np.ndarray:
        """(3, 3) world -> view rotation."""
        a, e = math.radians(self.azimuth), math.radians(self.elevation)
        ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        rx = np.array([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
        return rx @ ry

    def to_view(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world -> (N, 3) view frame (world units)."""
        out = (np.asarray(points, np.float64) - self.target) @ self.rotation().T
        out[:, :2] += self.pan
        return out

    def pixels_per_unit(self, height: int) -> float:
        """Screen pixels per world unit in a view `height` pixels high."""
        return height * self.zoom / self.extent

    def to_screen(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """(N, 3) world -> (N, 3): screen x, y (pixels) and view z (world units, larger = nearer)."""
        v = self.to_view(points)
        f = self.pixels_per_unit(height)
        return np.stack([width / 2 + v[:, 0] * f, height / 2 - v[:, 1] * f, v[:, 2]], axis=1)

    def to_image(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """(N, 3) world -> (N, 3) the rasteriser's frame: screen x, y and depth away from the viewer, all in
        pixels (core/render/raster.py)."""
        s = self.to_screen(points, width, height)
        s[:, 2] *= -self.pixels_per_unit(height)
        return s

    def pose(self, distance: float) -> np.ndarray:
        """(4, 4) camera -> world transform of a GL camera (looking along its -z) placed `distance` world units
        in front of the view plane through the target: the inverse of `to_view` shifted by that distance."""
        rt = self.rotation().T
        out = np.eye(4)
        out[:3, :3] = rt
        out[:3, 3] = self.target + rt @ np.array([-self.pan[0], -self.pan[1], distance])
        return out

    def pick(self, points: np.ndarray, width: int, height: int, x: float, y: float,
             radius_px: float = 6.0) -> int | None:
        """Index of the point of (N, 3) world `points` nearest to the viewer among those within `radius_px` of
        screen point (x, y), or None."""
        s = self.to_screen(points, width, height)
        near = np.flatnonzero(np.hypot(s[:, 0] - x, s[:, 1] - y) <= radius_px)
        return None if near.size == 0 else int(near[np.argmax(s[near, 2])])


class _Node:
    """Common to everything drawn: a stable `uid` (kept by copies, so a renderer recognises its uploads)."""

    def __init__(self, name: str) -> None:
        self.uid = next(_uids)
        self.name = name
        self.visible = True


class Mesh(_Node):
    """A lit triangle mesh.

    Attributes:
        vertices: (V, 3) float32 world positions.
        faces: (F, 3) int32 indices.
        colours: (V, 3) uint8 RGB per vertex, or None (light grey).
        weld_index: (V,) int or None: copies of one surface point share a normal (no shading seams).
        texture: (H_t, W_t, 3) uint8 RGB image and texcoords (V, 2) OpenGL (s right, t up) in [0, 1], or None;
            a texture, when given, replaces the colours.
        geometry_version: bumped by `set_vertices`; appearance_version: by anything else.
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray | None = None, *,
                 weld_index: np.ndarray | None = None, texture: np.ndarray | None = None,
                 texcoords: np.ndarray | None = None, name: str = "mesh") -> None:
        super().__init__(name)
        self.geometry_version = 0
        self.appearance_version = 0
        self.faces = np.zeros((0, 3), np.int32)
        self.vertices = np.zeros((0, 3), np.float32)
        self.set_topology(vertices, faces, weld_index)
        self.colours: np.ndarray | None = None
        self.texture: np.ndarray | None = None
        self.texcoords: np.ndarray | None = None
        if texture is not None:
            self.set_texture(texture, texcoords)
        self.set_colours(colours)

    @property
    def num_vertices(self) -> int:
        return len(self.vertices)

    def set_topology(self, vertices: np.ndarray, faces: np.ndarray, weld_index: np.ndarray | None = None) -> None:
        """New vertices (V, 3) and faces (F, 3) (and weld index (V,)): a different mesh, rebuilt on upload."""
        sizes = check_shape(vertices, ("V", 3), f"{self.name}: vertices")
        check_shape(faces, ("F", 3), f"{self.name}: faces")
        faces = np.asarray(faces, np.int64)
        if faces.size and (faces.min() < 0 or faces.max() >= sizes["V"]):
            raise ValueError(f"{self.name}: faces index vertices outside [0, {sizes['V']})")
        if weld_index is not None:
            check_shape(weld_index, (sizes["V"],), f"{self.name}: weld_index")
        self.faces = faces.astype(np.int32)
        self.weld_index = None if weld_index is None else np.asarray(weld_index, np.int64)
        self.vertices = np.array(vertices, np.float32)
        self.geometry_version += 1
        self.appearance_version += 1

    def set_vertices(self, vertices: np.ndarray) -> None:
        """New (V, 3) positions for the same faces: the renderer uploads only positions and normals."""
        check_shape(vertices, (self.num_vertices, 3), f"{self.name}: vertices")
        self.vertices = np.array(vertices, np.float32)
        self.geometry_version += 1

    def set_colours(self, colours: np.ndarray | None) -> None:
        """(V, 3) uint8 RGB per vertex, or None for light grey."""
        if colours is not None:
            check_shape(colours, (self.num_vertices, 3), f"{self.name}: colours")
            colours = np.array(colours, np.uint8)
        self.colours = colours
        self.appearance_version += 1

    def set_texture(self, texture: np.ndarray | None, texcoords: np.ndarray | None = None) -> None:
        """(H_t, W_t, 3) uint8 RGB texture with (V, 2) texcoords, or None to go back to the colours."""
        if texture is not None:
            check_shape(texture, (None, None, 3), f"{self.name}: texture")
            check_shape(texcoords, (self.num_vertices, 2), f"{self.name}: texcoords")
        self.texture = texture
        self.texcoords = None if texcoords is None else np.asarray(texcoords, np.float32)
        self.appearance_version += 1


class Points(_Node):
    """Dots drawn over the meshes, `radius` pixels, hidden where a mesh is in front of them when `occludable`.

    Attributes:
        points: (N, 3) world positions; colour: RGB.
    """

    def __init__(self, points: np.ndarray | None = None, colour: tuple[int, int, int] = (255, 255, 255),
                 radius: float = 1.6, occludable: bool = True, name: str = "points") -> None:
        super().__init__(name)
        self.points = np.zeros((0, 3))
        self.colour, self.radius, self.occludable = colour, radius, occludable
        if points is not None:
            self.set_points(points)

    def set_points(self, points: np.ndarray) -> None:
        check_shape(points, (None, 3), f"{self.name}: points")
        self.points = np.array(points, np.float64)


class Skeleton(_Node):
    """Bones (lines from each joint to its parent) and joint dots, drawn over everything (an x-ray view).

    Attributes:
        joints: (J, 3) world positions; parents: (J,) parent index, -1 for a root.
    """

    def __init__(self, joints: np.ndarray, parents: np.ndarray, bone_colour: tuple[int, int, int] = (255, 255, 255),
                 joint_colour: tuple[int, int, int] = (255, 200, 40), name: str = "skeleton") -> None:
        super().__init__(name)
        check_shape(parents, ("J",), f"{name}: parents")
        self.parents = np.asarray(parents, np.int64)
        self.joints = np.zeros((len(self.parents), 3))
        self.bone_colour, self.joint_colour = bone_colour, joint_colour
        self.set_joints(joints)

    def set_joints(self, joints: np.ndarray) -> None:
        check_shape(joints, (len(self.parents), 3), f"{self.name}: joints")
        self.joints = np.array(joints, np.float64)


@dataclass
class Scene:
    """A camera, a background and the nodes to draw (meshes first, then points and skeletons over them).

    Lighting is part of the convention, not of the scene: ambient `AMBIENT` plus one directional light that
    moves with the camera, shining along `LIGHT_DIRECTION` in the view frame (from the upper left, in front).
    """

    camera: Camera = field(default_factory=Camera)
    background: tuple[int, int, int] = (0, 0, 0)
    nodes: list[_Node] = field(default_factory=list)

    AMBIENT = 0.35
    LIGHT_INTENSITY = 3.0
    LIGHT_DIRECTION = (0.4, -0.5, -1.0)

    def add(self, node: _Node) -> _Node:
        self.nodes.append(node)
        return node

    def of_type(self, kind: type) -> list:
        """The visible nodes of one kind, in drawing order."""
        return [n for n in self.nodes if isinstance(n, kind) and n.visible]

    def snapshot(self) -> Scene:
        """A copy to hand to a render thread: new node objects sharing the (never mutated) arrays."""
        return Scene(camera=copy.deepcopy(self.camera), background=self.background,
                     nodes=[copy.copy(n) for n in self.nodes])
