"""Offscreen rendering: exact rasteriser, IUV mode, lit modes (need OpenGL), template sheet and atlas."""

from __future__ import annotations

import numpy as np
import pytest

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
