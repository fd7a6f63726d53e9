"""The compiled element-wise passes against plain NumPy / SciPy references."""

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from daskmix.mixture.kernels.fused import diagonal_design, normalise_columns
from daskmix.mixture.kernels.suffstats import _LOG_FLOOR_FLOAT64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_feature_squares", [True, False])
def test_design_is_shifted_rows_squares_and_ones(dtype, per_feature_squares):
    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(37, 5)).astype(dtype)
    shift = rng.normal(size=5).astype(dtype)
    Y = X - shift
    squares = Y**2 if per_feature_squares else np.sum(Y**2, axis=1, keepdims=True, dtype=dtype)
    expected = np.hstack([Y, squares, np.ones((37, 1), dtype)])

    D = diagonal_design(X, shift, per_feature_squares)

    assert D.dtype == dtype
    rtol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(D, expected, rtol=rtol)


def test_design_of_no_rows():
    D = diagonal_design(np.empty((0, 3)), np.zeros(3), True)
    assert D.shape == (0, 7)


def test_design_accepts_strided_rows():
    X = np.arange(40.0).reshape(8, 5)[::2]
    np.testing.assert_array_equal(diagonal_design(X, np.zeros(5), True)[:, :5], X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_normalise_columns_is_a_weighted_softmax(dtype, weighted):
    rng = np.random.default_rng(1)
    # columns spanning thousands of nats: most terms underflow
    L = (rng.normal(size=(7, 300)) * rng.choice([1.0, 30.0, 3000.0], size=300)).astype(dtype)
    weights = rng.uniform(0.1, 3.0, size=300).astype(dtype) if weighted else None
    expected_norm = logsumexp(L.astype(np.float64), axis=0)
    expected = softmax(L.astype(np.float64), axis=0) * (1.0 if weights is None else weights)
    floor = _LOG_FLOOR_FLOAT64 if dtype == np.float64 else -np.inf

    P = L.copy()
    log_norm = normalise_columns(P, weights, floor)

    rtol = 1e-5 if dtype == np.float32 else 1e-13
    # float32 loses terms to underflow below its smallest normal; float64's
    # floor raises terms below exp(floor) ~ 1e-154 (relative to the largest)
    atol = 1e-36 if dtype == np.float32 else 1e-150
    np.testing.assert_allclose(log_norm, expected_norm, rtol=rtol)
    np.testing.assert_allclose(P, expected, rtol=rtol, atol=atol)
    assert P.dtype == log_norm.dtype == dtype


def test_floor_only_touches_negligible_terms():
    L = np.array([[0.0, 0.0], [-1000.0, -1.0]])
    P = L.copy()
    normalise_columns(P, None, -50.0)
    # exp(-50) is below the rounding of 1 in float64: the sums do not move
    assert P[0, 0] == 1.0
    assert P[1, 0] == pytest.approx(np.exp(-50.0))
    np.testing.assert_allclose(P[:, 1], softmax(L[:, 1]))
