"""The vector helpers of `edge.geometry` against numpy's own, on the shapes live and offline scoring give them."""

from __future__ import annotations

import numpy as np
import pytest

from edge.geometry import angle_between_deg, cross, unit


def test_unit_lengths_directions_and_unknowns():
    v = np.array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0], [np.nan, 1.0, 0.0], [1e-13, 0.0, 0.0], [0.0, -2.0, 0.0]])
    u = unit(v)
    np.testing.assert_allclose(u[0], [0.6, 0.0, 0.8])
    np.testing.assert_array_equal(u[4], [0.0, -1.0, 0.0])
    assert np.isnan(u[1]).all() and np.isnan(u[2]).all() and np.isnan(u[3]).all()  # too short or unknown: NaN
    # The same numbers as dividing by np.linalg.norm, to the bit.
    rng = np.random.default_rng(3)
    many = rng.normal(size=(50, 7, 3))
    np.testing.assert_array_equal(unit(many), many / np.linalg.norm(many, axis=-1, keepdims=True))


@pytest.mark.parametrize("dtype,expected", [(np.float32, np.float32), (np.float64, np.float64),
                                            (np.int64, np.float64)])
def test_unit_keeps_float_precision(dtype, expected):
    out = unit(np.array([[0, 3, 4]], dtype=dtype))
    assert out.dtype == expected and out.shape == (1, 3)
    np.testing.assert_allclose(out, [[0.0, 0.6, 0.8]], rtol=1e-6)
    assert unit([2.0, 0.0, 0.0]).tolist() == [1.0, 0.0, 0.0]  # a list, one vector


def test_cross_matches_numpy_with_and_without_broadcasting():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    np.testing.assert_allclose(cross(a, b), np.cross(a, b), rtol=1e-12, atol=1e-15)
    axis = np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(cross(a, axis), np.cross(a, axis), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(cross(axis, b[:1]), np.cross(axis, b[:1]), rtol=1e-12, atol=1e-15)
    assert cross(a[:1], b[:1]).shape == (1, 3)
    np.testing.assert_allclose(angle_between_deg(np.array([1.0, 0, 0]), np.array([[0.0, 1, 0], [-1.0, 0, 0]])),
                               [90.0, 180.0])
