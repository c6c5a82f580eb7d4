"""Rendering: exact rasteriser, IUV mode, lit modes (need OpenGL), template sheet, atlas, and the one scene,
renderer, camera convention, palette, normals and skeleton regressor that every picture shares."""

from __future__ import annotations

import os

import numpy as np
import pytest

from deformlearn.core.densepose.records import DensePoints
from deformlearn.core.render import (
    PART_COLOURS,
    VIEWS,
    Camera,
    Mesh,
    Points,
    Scene,
    SceneRenderer,
    Skeleton,
    joint_regressor,
    vertex_normals,
)
from deformlearn.core.render.offscreen import OffscreenRenderer, RenderError, atlas_texcoords, load_atlas
from deformlearn.core.render.raster import rasterize
from deformlearn.core.render.template_views import render_template_sheet, view_vertices

SIZE = 256


@pytest.fixture(scope="module")
def front_px(builtin_template):
    return view_vertices(builtin_template.rest_vertices, "front", SIZE)


@pytest.fixture(scope="module")
def gl_renderer(builtin_template, front_px):
    """An OffscreenRenderer with a working OpenGL context, or skip (no EGL and no OSMesa)."""
    renderer = OffscreenRenderer()
    try:
        renderer.render(front_px, builtin_template.faces, width=32, height=32, mode="shaded",
                        template=builtin_template)
    except RenderError as exc:
        renderer.close()
        pytest.skip(f"no OpenGL context can be created: {exc}")
    yield renderer
    renderer.close()


def test_rasterize_square_covers_exact_pixels():
    v = np.array([[2, 3, 5], [6, 3, 5], [6, 8, 5], [2, 8, 5]], dtype=float)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    face_id, bary, depth = rasterize(v, faces, 10, 12)
    expected = np.zeros((12, 10), dtype=bool)
    expected[3:8, 2:6] = True
    np.testing.assert_array_equal(face_id >= 0, expected)
    np.testing.assert_allclose(bary[expected].sum(1), 1.0)
    np.testing.assert_allclose(depth[expected], 5.0)
    assert np.all(np.isinf(depth[~expected]))


def test_rasterize_nearest_wins_and_interpolates_depth():
    far = np.array([[0, 0, 10], [20, 0, 10], [0, 20, 10]], dtype=float)
    near = np.array([[0, 0, 1], [20, 0, 3], [0, 20, 1]], dtype=float)
    v = np.concatenate([far, near])
    face_id, bary, depth = rasterize(v, np.array([[0, 1, 2], [3, 4, 5]]), 16, 16)
    assert face_id[2, 2] == 1
    assert depth[2, 10] == pytest.approx(1 + 2 * 10.5 / 20, abs=1e-5)
    face_id, _, _ = rasterize(v, np.array([[3, 4, 5], [0, 1, 2]]), 16, 16)
    assert face_id[2, 2] == 0, "order of faces must not matter"


def test_iuv_front_chest_is_torso_front(builtin_template, front_px):
    t = builtin_template
    with OffscreenRenderer() as r:
        res = r.render(front_px, t.faces, width=SIZE, height=SIZE, mode="iuv", template=t)
    chest_y = front_px[t.keypoint_weights[5] > 0, 1].mean() + 0.05 * SIZE
    rows = slice(int(chest_y) - 5, int(chest_y) + 5)
    cols = slice(SIZE // 2 - 10, SIZE // 2 + 10)
    assert np.mean(res.iuv[rows, cols, 0] == 2) > 0.9
    np.testing.assert_array_equal(res.color, res.iuv)
    np.testing.assert_array_equal(res.mask, res.iuv[..., 0] > 0)
    assert set(np.unique(res.iuv[..., 0])) <= set(range(25))
    assert {2, 3, 4, 23, 24} <= set(np.unique(res.iuv[..., 0]).tolist())
    assert np.all(np.isfinite(res.depth[res.mask])) and np.all(np.isinf(res.depth[~res.mask]))


def test_iuv_back_view_sees_torso_back(builtin_template):
    t = builtin_template
    px = view_vertices(t.rest_vertices, "back", SIZE)
    with OffscreenRenderer() as r:
        res = r.render(px, t.faces, width=SIZE, height=SIZE, mode="iuv", template=t)
    counts = np.bincount(res.iuv[..., 0].ravel(), minlength=25)
    assert counts[1] > 20 * max(counts[2], 1)


def test_iuv_uv_varies_smoothly_within_torso(builtin_template, front_px):
    t = builtin_template
    with OffscreenRenderer() as r:
        iuv = r.render(front_px, t.faces, width=SIZE, height=SIZE, mode="iuv", template=t).iuv
    torso = iuv[..., 0] == 2
    u = np.where(torso, iuv[..., 1].astype(float), np.nan)
    # U runs from the neck (0) down to the hips (1): increases down the image
    col = u[:, SIZE // 2]
    ok = np.isfinite(col)
    assert np.corrcoef(np.flatnonzero(ok), col[ok])[0, 1] > 0.95
    step = np.abs(np.diff(u, axis=0))
    assert np.nanmax(step) < 40, "U must not jump inside one part"


def test_render_rejects_bad_input(builtin_template, front_px):
    t = builtin_template
    with OffscreenRenderer() as r:
        with pytest.raises(ValueError, match="mode"):
            r.render(front_px, t.faces, width=8, height=8, mode="nope", template=t)
        with pytest.raises(ValueError, match="vertices_px"):
            r.render(front_px[:10], t.faces, width=8, height=8, mode="iuv", template=t)


def test_atlas_texcoords_follow_densepose_layout():
    part = np.array([2, 7, 24])
    uv = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], dtype=np.float32)
    st = atlas_texcoords(part, uv, (1200, 800, 3))
    px = np.stack([st[:, 0] * 800, (1 - st[:, 1]) * 1200], 1)
    np.testing.assert_allclose(px[0], [0.5, 200.5])  # part 2: row 1, column 0; V = 1 at the top
    np.testing.assert_allclose(px[1], [399.5, 199.5])  # part 7: row 0, column 1; U = 1 right, V = 0 bottom
    np.testing.assert_allclose(px[2], [600 + 99.5 + 0.5, 1000 + 99.5 + 0.5])


def test_load_atlas(tmp_path):
    atlas = load_atlas(None)
    assert atlas.shape == (1200, 800, 3) and atlas.dtype == np.uint8
    import cv2

    bad = tmp_path / "bad.png"
    cv2.imwrite(str(bad), np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="6 rows x 4 columns"):
        load_atlas(bad)
    with pytest.raises(FileNotFoundError):
        load_atlas(tmp_path / "missing.png")


def test_builtin_atlas_front_differs_from_back():
    atlas = load_atlas(None).astype(float)
    back, front = atlas[0:200, 0:200], atlas[200:400, 0:200]
    assert np.abs(front - back).mean() > 10


@pytest.mark.gl
def test_lit_modes(gl_renderer, builtin_template, front_px):
    t = builtin_template
    out = {}
    for mode in ("parts", "atlas", "shaded"):
        res = gl_renderer.render(front_px, t.faces, width=SIZE, height=SIZE, mode=mode, template=t)
        assert res.color.shape == (SIZE, SIZE, 3) and res.color.dtype == np.uint8
        assert np.all(res.color[~res.mask] == 0)
        assert res.color[res.mask].mean() > 40, f"{mode} render is dark"
        out[mode] = res.color
    grey = out["shaded"][out["shaded"].sum(2) > 0].astype(int)
    assert np.abs(grey[:, 0] - grey[:, 2]).mean() < 3
    assert np.abs(out["parts"].astype(int) - out["atlas"]).mean() > 5


@pytest.mark.gl
def test_template_sheet_written(gl_renderer, builtin_template, tmp_path):
    import cv2

    path = render_template_sheet(builtin_template, tmp_path / "sheet.png", size=160)
    img = cv2.imread(str(path))
    assert img is not None and img.shape[1] == 3 * 160 and img.shape[0] > 2 * 160


# ---- one scene, one renderer, one camera convention, one palette, one normals function --------------------

def _square(centre, half: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Two small squares about `centre`: one facing +z (the front view's camera), one facing -x (the side's)."""
    c = np.asarray(centre, float)
    front = c + half * np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]])
    side = c + half * np.array([[0, -1, -1], [0, -1, 1], [0, 1, 1], [0, 1, -1]])
    faces = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    return np.concatenate([front, side]), faces


def _drawn_centre(image: np.ndarray, background) -> np.ndarray:
    ys, xs = np.nonzero(np.any(image != np.asarray(background, np.uint8), axis=-1))
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])  # pixel centres sit at +0.5 in the screen frame


def test_camera_maps_known_points_to_known_pixels():
    cam = Camera(extent=2.0)  # 200 px high: 100 px per unit
    np.testing.assert_allclose(cam.to_screen(np.array([[0.5, 0.3, 0.0]]), 200, 200)[0, :2], [150, 70])
    cam.set_view("side")  # the body's right side: its front (+z) to the screen's right, its left (+x) away
    s = cam.to_screen(np.array([[0.0, 0.3, 0.5], [0.4, 0.0, 0.0]]), 200, 200)
    np.testing.assert_allclose(s[0, :2], [150, 70])
    assert s[1, 2] < 0
    cam.zoom, cam.pan = 3.0, np.array([0.1, 0.0])
    cam.set_view("front")
    assert cam.zoom == 1.0 and not cam.pan.any()  # presets show the whole framed body again
    image = Camera.image_frame(64, 48)
    np.testing.assert_allclose(image.to_image(np.array([[10.0, 20.0, 5.0]]), 64, 48), [[10, 20, 5]])
    with pytest.raises(ValueError, match="unknown view"):
        cam.set_view("sideways")


@pytest.mark.gl
@pytest.mark.parametrize("view, point", [("front", (0.5, 0.3, 0.0)), ("side", (0.0, 0.3, 0.5))])
def test_renderer_draws_a_known_point_at_the_expected_pixel(gl_renderer, view, point):
    verts, faces = _square(point)
    scene = Scene(camera=Camera(extent=2.0), background=(0, 0, 0))
    scene.camera.set_view(view)
    scene.add(Mesh(verts, faces, np.full((8, 3), 200, np.uint8)))
    with SceneRenderer() as renderer:
        image = renderer.render(scene, 200, 200)
        np.testing.assert_allclose(_drawn_centre(image, (0, 0, 0)), [150, 70], atol=0.6)
        fallback = SceneRenderer(fallback=True)
        fallback.backend = "points"  # the no-GL look projects through the same camera
        np.testing.assert_allclose(_drawn_centre(fallback.render(scene, 200, 200), (0, 0, 0)), [150, 70], atol=1.6)
    overlay = Scene(camera=scene.camera, background=(0, 0, 0))
    overlay.add(Points(np.array([point]), radius=2.0))
    with SceneRenderer() as renderer:
        np.testing.assert_allclose(_drawn_centre(renderer.render(overlay, 200, 200), (0, 0, 0)), [150, 70], atol=0.6)


@pytest.mark.gl
def test_gl_silhouette_matches_the_exact_rasteriser_in_every_view(gl_renderer, builtin_template):
    import cv2

    t = builtin_template
    scene = Scene(background=(0, 0, 0))
    scene.add(Mesh(t.rest_vertices, t.faces, PART_COLOURS[t.vertex_part], weld_index=t.weld_index))
    scene.camera.frame(t.rest_vertices)
    with SceneRenderer() as renderer:
        for view in VIEWS:
            scene.camera.set_view(view)
            drawn = renderer.render(scene, 160, 120).any(axis=-1)
            face_id, _, _ = rasterize(scene.camera.to_image(t.rest_vertices, 160, 120), t.faces, 160, 120)
            exact = face_id >= 0
            assert np.mean(exact & ~drawn) < 1e-3, view
            # with multisampling (EGL on an X display) edge pixels and slivers thinner than a pixel blend in
            near = cv2.dilate(exact.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            assert np.mean(drawn & ~near) < 1e-3, view


@pytest.mark.gl
def test_geometry_update_uploads_positions_only_and_draws_what_a_fresh_build_draws(gl_renderer, builtin_template):
    t = builtin_template
    moved = t.rest_vertices @ np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]]).T  # turned a quarter about y
    scene = Scene(background=(10, 10, 10))
    mesh = scene.add(Mesh(t.rest_vertices, t.faces, PART_COLOURS[t.vertex_part], weld_index=t.weld_index))
    scene.camera.frame(t.rest_vertices)
    with SceneRenderer() as renderer:
        first = renderer.render(scene, 128, 128)
        mesh.set_vertices(moved)
        updated = renderer.render(scene, 128, 128)
        assert renderer.uploads == [1, 1]
        mesh.set_colours(None)
        renderer.render(scene, 128, 128)
        assert renderer.uploads == [2, 1]
    mesh.set_colours(PART_COLOURS[t.vertex_part])
    with SceneRenderer() as fresh:
        rebuilt = fresh.render(scene, 128, 128)
    assert np.abs(updated.astype(int) - first).mean() > 5
    assert np.abs(updated.astype(int) - rebuilt).max() <= 1


def test_frames_reuse_their_shader_programs():
    # pyrender's program cache missed at every frame under OSMesa (a new context pointer object at each call):
    # each frame compiled its shaders again and kept them, 3.6 MB a frame. OSMesa, as on a machine without a
    # display, in a process of its own (PyOpenGL picks its platform once)
    import subprocess
    import sys

    code = """if True:
        from deformlearn.core.body.template import load_builtin_template
        from deformlearn.core.render import PART_COLOURS, Mesh, Scene, SceneRenderer
        t = load_builtin_template()
        scene = Scene(background=(10, 10, 10))
        mesh = scene.add(Mesh(t.rest_vertices, t.faces, PART_COLOURS[t.vertex_part], weld_index=t.weld_index))
        scene.camera.frame(t.rest_vertices)
        with SceneRenderer() as renderer:
            for k in range(5):
                mesh.set_vertices(t.rest_vertices * (1.0 + 0.01 * k))
                renderer.render(scene, 64, 64)
                print(len(renderer._gl._renderer._program_cache._program_cache))
    """
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"} | {"PYOPENGL_PLATFORM": "osmesa"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0 and ("osmesa" in proc.stderr.lower() or "RenderError" in proc.stderr):
        pytest.skip(f"no OSMesa here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1"] * 5


@pytest.mark.gl
def test_points_behind_a_mesh_are_hidden_and_skeletons_are_drawn_over_it(gl_renderer):
    verts, faces = _square((0.0, 0.0, 0.0), half=0.5)
    scene = Scene(camera=Camera(extent=2.0), background=(0, 0, 0))
    scene.add(Mesh(verts[:4], faces[:2], np.full((4, 3), 100, np.uint8)))
    scene.add(Points(np.array([[-0.2, 0.0, 0.3], [0.2, 0.0, -0.3]]), colour=(255, 0, 0), radius=3.0))
    with SceneRenderer() as renderer:
        image = renderer.render(scene, 200, 200)
        assert tuple(image[100, 80]) == (255, 0, 0)  # the point in front of the square shows
        assert tuple(image[100, 120]) == tuple(image[100, 140]) != (255, 0, 0)  # the one behind it does not
        scene.add(Skeleton(np.array([[-0.3, -0.3, -1.0], [0.3, -0.3, -1.0]]), np.array([-1, 0])))
        image = renderer.render(scene, 200, 200)
    assert tuple(image[130, 100]) == (255, 255, 255)  # a bone behind the mesh is drawn over it (x-ray)


def test_one_palette_for_draw_app_and_template_render(builtin_template):
    from deformlearn.core.render import overlay

    np.testing.assert_array_equal(overlay.part_colors()[:, ::-1], PART_COLOURS)  # draw's BGR is the palette
    image = np.zeros((40, 40, 3), np.uint8)
    dots = DensePoints(xy=np.array([[10.0, 10.0], [30.0, 30.0]], np.float32), part=np.array([2, 15]),
                       uv=np.zeros((2, 2), np.float32))
    drawn = overlay.draw_person(image, dense=dots, radius=3)
    np.testing.assert_array_equal(drawn[[10, 30], [10, 30]], PART_COLOURS[[2, 15]][:, ::-1])
    import importlib.util

    if importlib.util.find_spec("PySide6") is not None:
        from deformlearn.app.colours import PART_COLOURS as app_palette

        assert app_palette is PART_COLOURS
    t = builtin_template
    with OffscreenRenderer() as r:
        r.render(view_vertices(t.rest_vertices, "front", 32), t.faces, width=32, height=32, mode="iuv", template=t)
        shown = r._mesh_for("parts", view_vertices(t.rest_vertices, "front", 32), t.faces.astype(np.int64), t, None)
    np.testing.assert_array_equal(shown.colours, PART_COLOURS[t.vertex_part])  # what `template --render` paints


def test_vertex_normals_point_outwards_and_weld_seams():
    # a unit cube, faces counter-clockwise seen from outside; vertex 8 is a seam copy of vertex 0
    v = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1], [0, 0, 0]],
                 float)
    faces = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4], [2, 3, 7], [2, 7, 6],
                      [1, 2, 6], [1, 6, 5], [8, 4, 7], [8, 7, 3]])
    n = vertex_normals(v, faces)
    centre = v[:8].mean(0)
    assert np.all(np.sum(n[:8] * (v[:8] - centre), 1) > 0)
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)
    assert not np.allclose(n[0], n[8])
    welded = vertex_normals(v, faces, weld_index=np.array([0, 1, 2, 3, 4, 5, 6, 7, 0]))
    np.testing.assert_allclose(welded[0], welded[8])
    np.testing.assert_allclose(welded[0], -np.ones(3) / np.sqrt(3), atol=1e-12)
    np.testing.assert_allclose(vertex_normals(np.stack([v, 2 * v]), faces)[1], n)
    with pytest.raises(ValueError, match="faces"):
        vertex_normals(v, faces + 10)


def test_joint_regressor_follows_a_posed_body(builtin_template):
    import torch

    from deformlearn.core.body import BodyModel

    t = builtin_template
    w = joint_regressor(t)
    np.testing.assert_allclose(w @ t.rest_vertices, t.rest_joints, atol=1e-6)
    turn = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])
    np.testing.assert_allclose(w @ (2 * t.rest_vertices @ turn.T + 1), 2 * t.rest_joints @ turn.T + 1, atol=1e-5)
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(8, 23, 3, generator=g) * 0.3
    with torch.no_grad():
        out = BodyModel(t)(pose, torch.ones(8, 24))
    error = np.linalg.norm(np.einsum("jv,bvc->bjc", w, out.vertices.numpy()) - out.joints.numpy(), axis=-1)
    assert error.mean() < 0.01 and error.max() < 0.05  # metres: a display skeleton within millimetres
