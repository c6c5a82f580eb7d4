"""Chart look-up (I, U, V) -> template vertex: nearest vertex per part, and DensePose's barycentric mapping."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deformlearn.core.body.template import builtin_template_path
from deformlearn.core.densepose.correspondence import (
    BarycentricMapper,
    NearestVertexMapper,
    map_to_vertices,
    mapper_for,
    template_key,
)
from tests.tiny_template import make_tiny_template


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_template()


def test_vertex_uv_maps_to_a_vertex_at_that_uv(tiny):
    vertex, residual = map_to_vertices(tiny, tiny.vertex_part, tiny.vertex_uv)
    assert vertex.dtype == np.int64 and residual.dtype == np.float32 and vertex.shape == (tiny.num_vertices,)
    np.testing.assert_array_equal(tiny.vertex_part[vertex], tiny.vertex_part)
    np.testing.assert_allclose(tiny.vertex_uv[vertex], tiny.vertex_uv, atol=1e-7)
    assert residual.max() < 1e-6


def test_nearest_vertex_matches_brute_force(tiny):
    rng = np.random.default_rng(0)
    part = rng.choice(np.unique(tiny.vertex_part), 500)
    uv = rng.random((500, 2))
    vertex, residual = NearestVertexMapper(tiny).map(part, uv).vertex_index, None
    for i in range(500):
        same = np.flatnonzero(tiny.vertex_part == part[i])
        d = np.linalg.norm(tiny.vertex_uv[same] - uv[i], axis=1)
        assert np.linalg.norm(tiny.vertex_uv[vertex[i]] - uv[i]) == pytest.approx(d.min(), abs=1e-6)
        assert tiny.vertex_part[vertex[i]] == part[i]
    _, residual = map_to_vertices(tiny, part, uv)
    np.testing.assert_allclose(residual, np.linalg.norm(tiny.vertex_uv[vertex] - uv, axis=1), atol=1e-6)


def test_bad_inputs_raise(tiny):
    with pytest.raises(ValueError, match=r"uv .*expected shape \(3, 2\), got \(3,\)"):
        map_to_vertices(tiny, np.array([1, 2, 3]), np.zeros(3))
    with pytest.raises(ValueError, match="part indices outside 1..24"):
        map_to_vertices(tiny, np.array([0]), np.zeros((1, 2)))
    few = dataclasses.replace(tiny, vertex_part=np.where(tiny.vertex_part == 5, 6, tiny.vertex_part))
    with pytest.raises(ValueError, match="no vertex in DensePose part 5"):
        map_to_vertices(few, np.array([5]), np.zeros((1, 2)))
    vertex, residual = map_to_vertices(tiny, np.zeros(0, np.int64), np.zeros((0, 2)))
    assert vertex.shape == residual.shape == (0,)


def test_mapper_is_cached_and_chosen_by_name(tiny):
    assert mapper_for(tiny) is mapper_for(tiny)
    assert type(mapper_for(tiny)) is NearestVertexMapper
    smpl = dataclasses.replace(tiny, name="smpl-tiny")
    assert isinstance(mapper_for(smpl), BarycentricMapper)


def test_barycentric_inside_triangles_reconstructs_the_point(tiny):
    smpl = dataclasses.replace(tiny, name="smpl-tiny")
    rng = np.random.default_rng(1)
    faces = rng.choice(len(smpl.faces), 300)
    w = rng.dirichlet(np.ones(3), 300)
    uv = np.einsum("nk,nkc->nc", w, smpl.vertex_uv[smpl.faces[faces]].astype(np.float64))
    part = smpl.face_part[faces]
    result = mapper_for(smpl).map(part, uv)
    assert (result.face_index >= 0).all()
    found = smpl.faces[result.face_index]
    assert (smpl.vertex_part[found] == part[:, None]).all()
    recon = np.einsum("nk,nkc->nc", result.barycentric, smpl.vertex_uv[found].astype(np.float64))
    np.testing.assert_allclose(recon, uv, atol=1e-5)
    np.testing.assert_allclose(result.barycentric.sum(1), 1, atol=1e-5)
    best = found[np.arange(300), np.argmax(result.barycentric, axis=1)]
    np.testing.assert_array_equal(result.vertex_index, best)
    np.testing.assert_allclose(result.residual, np.linalg.norm(smpl.vertex_uv[best] - uv, axis=1), atol=1e-5)


def test_barycentric_falls_back_to_nearest_vertex_outside(tiny):
    """A point outside every triangle of its part gets face -1 and the nearest vertex of that part."""
    smpl = dataclasses.replace(tiny, name="smpl-tiny")
    part = np.array([2, 2])
    uv = np.array([[5.0, 5.0], [-3.0, 0.5]])  # far outside the [0, 1] chart
    result = mapper_for(smpl).map(part, uv)
    assert (result.face_index == -1).all() and (result.barycentric == 0).all()
    nearest = NearestVertexMapper(smpl).map(part, uv)
    np.testing.assert_array_equal(result.vertex_index, nearest.vertex_index)


def test_template_key_tracks_the_charts(tiny):
    assert template_key(tiny) == template_key(make_tiny_template())
    moved = dataclasses.replace(tiny, vertex_uv=tiny.vertex_uv * 0.5)
    assert template_key(moved) != template_key(tiny) and template_key(tiny).startswith("tiny-test-")


def test_builtin_template_covers_every_part():
    if not builtin_template_path().is_file():
        pytest.skip("the built-in template has not been built yet")
    from deformlearn.core.body.template import load_builtin_template

    t = load_builtin_template()
    rng = np.random.default_rng(0)
    part = np.repeat(np.arange(1, 25), 50)
    vertex, residual = map_to_vertices(t, part, rng.random((len(part), 2)))
    np.testing.assert_array_equal(t.vertex_part[vertex], part)
    assert np.isfinite(residual).all()
