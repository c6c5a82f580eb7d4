"""The 3D viewport's camera, picking and renderers (EGL frames and the point fallback)."""

from __future__ import annotations

import numpy as np

from deformlearn.app.colours import PART_COLOURS
from deformlearn.app.viewport_renderer import MeshFrameRenderer, OrbitCamera, pick_vertex


def test_orbit_camera_views_put_the_body_where_a_viewer_expects() -> None:
    cam = OrbitCamera(extent=2.0)
    left_hand, head, chest_front = np.array([[0.7, 0.2, 0.0]]), np.array([[0.0, 0.6, 0.0]]), np.array([[0.0, 0.2, 0.1]])
    x, y, depth = cam.to_screen(left_hand, 200, 200)[0]
    assert x > 100 and y < 100  # front view: the body's left (+x) on the screen's right, up is up
    assert cam.to_screen(chest_front, 200, 200)[0, 2] > 0  # the front faces the viewer
    cam.set_view("top")
    assert cam.to_screen(head, 200, 200)[0, 2] > cam.to_screen(np.zeros((1, 3)), 200, 200)[0, 2]
    cam.set_view("side")
    assert abs(cam.to_screen(left_hand, 200, 200)[0, 0] - 100) < 1  # seen from the side the arm points at us
    cam.set_view("front")
    cam.zoom, cam.pan = 2.0, np.array([0.1, 0.0])
    assert cam.to_screen(np.zeros((1, 3)), 200, 200)[0, 0] == 120  # 0.1 m * 100 px/m * zoom 2


def test_pick_vertex_takes_the_nearest_to_the_viewer() -> None:
    cam = OrbitCamera(extent=2.0)
    verts = np.array([[0.0, 0.0, -0.1], [0.0, 0.0, 0.1], [0.5, 0.5, 0.0]])
    assert pick_vertex(verts, cam, 200, 200, 100, 100) == 1
    assert pick_vertex(verts, cam, 200, 200, 10, 190) is None


def test_point_fallback_and_egl_frames_show_the_body(tiny_template) -> None:
    verts = tiny_template.rest_vertices.astype(np.float64)
    colours = PART_COLOURS[tiny_template.vertex_part]
    cam = OrbitCamera(target=verts.mean(0), extent=2.2)
    background = (38, 40, 46)
    points = MeshFrameRenderer._render_points(verts, colours, cam, 160, 160, background)
    renderer = MeshFrameRenderer()
    try:
        frame = renderer.render(verts, tiny_template.faces, colours, cam, 160, 160, background)
    finally:
        renderer.close()
    for image in (points, frame):
        body = np.any(image != background, axis=-1)
        assert image.shape == (160, 160, 3) and 0.02 < body.mean() < 0.6
        assert body[70:91, 70:91].any()  # the torso is in the middle
    assert renderer.backend == "egl"


def test_render_thread_delivers_frames_for_the_newest_mesh(make_window, small_project) -> None:
    win = make_window(small_project)
    canvas = win.viewport.canvas
    assert canvas.render_frame() and canvas._frame is not None and canvas.backend == "egl"
    before = len(canvas.frame_times)
    for k in range(5):  # a burst of updates costs at most a few frames, and the last one is shown
        win.viewport.update_vertices(canvas.vertices + 0.01 * k)
    assert canvas.render_frame()
    assert 1 <= len(canvas.frame_times) - before <= 6
    assert canvas._received == canvas._submitted


def test_vertex_residuals_spread_from_corresponded_vertices() -> None:
    from deformlearn.app.person_scene import PersonScene

    body = np.array([[0.0, 0, 0], [0.1, 0, 0], [1.0, 0, 0], [1.1, 0, 0]])
    image = np.array([[0.0, 0, 0], [10, 0, 0], [100, 0, 0], [110, 0, 0]])
    scene = PersonScene(pid=1, name="p", status="unreviewed", image=None, bbox=np.array([0, 0, 10, 10.0]),
                        keypoints=np.zeros((17, 3)), dense_xy=np.array([[3.0, 4.0], [100.0, 1.0], [100.0, 3.0]]),
                        dense_part=np.ones(3, np.int64), dense_uv=np.zeros((3, 2)), dense_vertex=np.array([0, 2, 2]),
                        fit_vertices_image=image, fit_vertices_body=body)
    scene.compute_vertex_residual()
    np.testing.assert_allclose(scene.vertex_residual, [5.0, 5.0, 2.0, 2.0])  # vertex 2: mean of 1 and 3 px
    segments = scene.residual_segments()
    assert segments.shape == (3, 2, 2) and np.allclose(segments[0], [[3, 4], [0, 0]])


def test_closing_a_viewport_renderer_leaves_other_gl_contexts_working(tiny_template, monkeypatch) -> None:
    from deformlearn.core import render  # the public face the app calls through

    released = []
    real = render.release_offscreen_renderer
    monkeypatch.setattr(render, "release_offscreen_renderer", lambda gl: (released.append(gl), real(gl)))
    verts = tiny_template.rest_vertices.astype(np.float64)
    colours = PART_COLOURS[tiny_template.vertex_part]
    cam = OrbitCamera(target=verts.mean(0), extent=2.2)
    first, second = MeshFrameRenderer(), MeshFrameRenderer()
    try:
        before = second.render(verts, tiny_template.faces, colours, cam, 96, 96)
        first.render(verts, tiny_template.faces, colours, cam, 96, 96)
        gl = first._renderer
        first.close()  # through core.render.offscreen's release: pyrender's delete() would terminate the shared display
        assert released == [gl] and first._renderer is None
        after = second.render(verts, tiny_template.faces, colours, cam, 96, 96)
        assert second.backend == "egl"
        np.testing.assert_array_equal(after, before)
    finally:
        first.close()
        second.close()
