"""The 3D viewport: it draws core's one scene through core's one renderer, picks through the same camera, keeps
the skeleton on a moving mesh, uploads only positions while a fit animates, and presets reset the zoom."""

from __future__ import annotations

import numpy as np
import pytest

from deformlearn.core.render import PART_COLOURS, Camera, Mesh, Scene, SceneRenderer


def _frame_array(canvas) -> np.ndarray:
    image = canvas._frame
    data = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return data[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


@pytest.mark.gl
def test_viewport_draws_the_shared_scene_with_the_shared_renderer(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(0)
    canvas = win.viewport.canvas
    assert canvas.render_frame() and canvas.backend == "gl"
    body = win.viewport.mesh
    assert isinstance(body, Mesh) and body in canvas.scene.nodes
    np.testing.assert_allclose(body.vertices, win.scene.fit_vertices_body, atol=1e-6)
    np.testing.assert_array_equal(body.colours, PART_COLOURS[win.loader.template.vertex_part])
    with SceneRenderer() as headless:  # the same scene drawn headless is the same picture
        expected = headless.render(canvas.scene.snapshot(), canvas._frame.width(), canvas._frame.height())
    assert np.abs(_frame_array(canvas).astype(int) - expected).mean() < 0.5


def test_pick_goes_through_the_camera_of_the_scene() -> None:
    cam = Camera(extent=2.0)
    verts = np.array([[0.0, 0.0, -0.1], [0.0, 0.0, 0.1], [0.5, 0.5, 0.0]])
    assert cam.pick(verts, 200, 200, 100, 100) == 1  # the nearest to the viewer
    assert cam.pick(verts, 200, 200, 150, 50) == 2
    assert cam.pick(verts, 200, 200, 10, 190) is None


def test_live_updates_move_the_skeleton_and_upload_only_positions(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(4)  # unfitted: the template at rest
    vp, canvas = win.viewport, win.viewport.canvas
    template = win.loader.template
    np.testing.assert_allclose(vp.skeleton.joints, template.rest_joints, atol=1e-6)
    assert canvas.render_frame()
    builds, _ = canvas.render_thread.uploads
    turn = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # a quarter turn about the vertical, as a fit's events
    for k in range(5):  # a burst of events costs at most a few frames, and the last one is shown
        vp.update_vertices(template.rest_vertices @ turn.T + [0.01 * k, 0, 0])
    assert canvas.render_frame()
    np.testing.assert_allclose(vp.skeleton.joints, template.rest_joints @ turn.T + [0.04, 0, 0], atol=1e-5)
    assert canvas.render_thread.uploads[0] == builds  # no rebuild: positions and normals only
    assert canvas.render_thread.uploads[1] >= 1
    assert canvas._received == canvas._submitted


def test_view_presets_reset_zoom_and_pan(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(0)
    cam = win.viewport.canvas.camera
    cam.zoom, cam.pan = 4.0, np.array([0.3, -0.2])
    win.viewport.set_view("side")
    assert (cam.azimuth, cam.elevation, cam.zoom) == (90.0, 0.0, 1.0) and not cam.pan.any()


def test_enlarge_floats_the_dock_and_docks_it_back(make_window, small_project) -> None:
    win = make_window(small_project)
    dock = win.docks["3D view"]
    small = dock.width() * dock.height()
    win.viewport.enlarge_button.setChecked(True)
    assert dock.isFloating() and dock.width() * dock.height() > small
    win.viewport.enlarge_button.setChecked(False)
    assert not dock.isFloating()


def test_point_fallback_shows_the_body(tiny_template) -> None:
    verts = tiny_template.rest_vertices.astype(np.float64)
    scene = Scene(background=(38, 40, 46))
    scene.add(Mesh(verts, tiny_template.faces, PART_COLOURS[tiny_template.vertex_part]))
    scene.camera.frame(verts)
    renderer = SceneRenderer(fallback=True)
    renderer.backend = "points"
    image = renderer.render(scene, 160, 160)
    body = np.any(image != (38, 40, 46), axis=-1)
    assert 0.02 < body.mean() < 0.6 and body[70:91, 70:91].any()  # the torso is in the middle


def test_vertex_residuals_spread_only_near_corresponded_vertices() -> None:
    from deformlearn.app.person_scene import SPREAD_RADIUS_M, PersonScene

    # vertices 1 and 3 lie within the radius of the corresponded 0 and 2; vertex 4 (a leg nobody annotated)
    # is 1 m from any: it has no value, not its nearest neighbour's
    near = SPREAD_RADIUS_M / 2
    body = np.array([[0.0, 0, 0], [near, 0, 0], [1.0, 0, 0], [1.0 + near, 0, 0], [2.0, 0, 0]])
    image = np.array([[0.0, 0, 0], [10, 0, 0], [100, 0, 0], [110, 0, 0], [200, 0, 0]])
    scene = PersonScene(pid=1, name="p", status="unreviewed", image=None, bbox=np.array([0, 0, 10, 10.0]),
                        keypoints=np.zeros((17, 3)), dense_xy=np.array([[3.0, 4.0], [100.0, 1.0], [100.0, 3.0]]),
                        dense_part=np.ones(3, np.int64), dense_uv=np.zeros((3, 2)), dense_vertex=np.array([0, 2, 2]),
                        fit_vertices_image=image, fit_vertices_body=body)
    scene.compute_vertex_residual()
    np.testing.assert_allclose(scene.vertex_residual, [5.0, 5.0, 2.0, 2.0, np.nan])  # vertex 2: mean of 1 and 3 px
    scene.fit_vertices_body = None  # no body-frame fit: only the corresponded vertices have values
    scene.compute_vertex_residual()
    np.testing.assert_allclose(scene.vertex_residual, [5.0, np.nan, 2.0, np.nan, np.nan])
    segments = scene.residual_segments()
    assert segments.shape == (3, 2, 2) and np.allclose(segments[0], [[3, 4], [0, 0]])


@pytest.mark.gl
def test_closing_a_renderer_leaves_other_gl_contexts_working(tiny_template, monkeypatch) -> None:
    from deformlearn.core.render import renderer as renderer_module

    released = []
    real = renderer_module.release_offscreen_renderer
    monkeypatch.setattr(renderer_module, "release_offscreen_renderer", lambda gl: (released.append(gl), real(gl)))
    verts = tiny_template.rest_vertices.astype(np.float64)
    scene = Scene()
    scene.add(Mesh(verts, tiny_template.faces, PART_COLOURS[tiny_template.vertex_part]))
    scene.camera.frame(verts)
    first, second = SceneRenderer(), SceneRenderer()
    try:
        before = second.render(scene, 96, 96)
        first.render(scene, 96, 96)
        gl = first._gl
        first.close()  # pyrender's delete() would terminate the shared EGL display under the second renderer
        assert released == [gl] and first._gl is None
        np.testing.assert_array_equal(second.render(scene, 96, 96), before)
    finally:
        first.close()
        second.close()


def test_residual_colouring_shows_a_colour_bar_beside_the_view(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(0)  # a fitted person: residuals exist
    vp = win.viewport
    assert not vp.colour_bar.isVisible()  # parts colouring: no bar
    vp.colour_mode.setCurrentText("residual")
    residual = win.scene.vertex_residual
    assert vp.colour_bar.isVisible() and vp.colour_bar.title == "residual (image px)"
    assert (vp.colour_bar.low, vp.colour_bar.high) == (0.0, float(np.nanmax(residual)))
    assert vp.colour_bar.geometry().left() >= vp.canvas.geometry().right()  # beside the body, not over it
    # the bar shows the body's colours: the most off vertex has the colour of the bar's top
    worst = int(np.nanargmax(residual))
    top = vp.colour_bar.colour_at(vp.colour_bar.high)
    assert tuple(vp.mesh.colours[worst]) == (top.red(), top.green(), top.blue())
    # vertices far from every annotated point have no value: drawn in the bar's "no value" grey
    far = np.isnan(residual)
    assert 0 < far.sum() < len(far) and (vp.mesh.colours[far] == 128).all()
    image = vp.colour_bar.grab().toImage()
    bar = vp.colour_bar.bar_rect()
    drawn = image.pixelColor(bar.center().x(), bar.top() + 1)  # just inside the frame
    assert max(abs(drawn.red() - top.red()), abs(drawn.green() - top.green()), abs(drawn.blue() - top.blue())) <= 8
    win.people.select_row(4)  # unfitted: nothing to colour by
    assert not vp.colour_bar.isVisible()
    vp.colour_mode.setCurrentText("parts")
    win.people.select_row(0)
    assert not vp.colour_bar.isVisible()


@pytest.mark.gl
def test_the_picked_vertex_is_highlighted_in_the_view(make_window, small_project) -> None:
    win = make_window(small_project)
    win.people.select_row(0)
    vp, canvas = win.viewport, win.viewport.canvas
    target = int(np.argmax(canvas.vertices[:, 0]))  # the outermost vertex on one side: nothing in front of it
    vp.set_picked(target)
    np.testing.assert_allclose(vp.picked_mark.points, canvas.vertices[[target]])
    assert canvas.render_frame()
    sx, sy, _ = canvas.camera.to_screen(canvas.vertices[[target]], canvas._frame.width(), canvas._frame.height())[0]
    pixel = _frame_array(canvas)[int(round(sy)), int(round(sx))]
    assert tuple(pixel) == (255, 0, 255)
    vp.set_picked(None)
    assert len(vp.picked_mark.points) == 0
