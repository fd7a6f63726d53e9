"""PCA chunk kernels and merges against NumPy references, with no scheduler at all."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from daskmix._kernels import TILE_ROWS
from daskmix.decomposition._pca_kernels import (
    chunk_moments,
    merge_moments,
    merge_packed_moments,
    moments_size,
    scatter_spectrum,
    unpack_moments,
)


def reference_moments(X):
    """Count, mean and centred scatter of ``X`` in float64, the textbook way."""
    X = X.astype(np.float64)
    mean = X.mean(axis=0)
    centred = X - mean
    return len(X), mean, centred.T @ centred


def data(n_rows, n_features=4, seed=0, offset=100.0):
    """Correlated rows far from the origin (a raw-moment formula would cancel)."""
    rng = np.random.RandomState(seed)
    return rng.randn(n_rows, n_features) @ rng.randn(n_features, n_features) + offset


@pytest.mark.parametrize("n_rows", [1, 7, TILE_ROWS + 3])
def test_chunk_moments_match_the_centred_scatter(n_rows):
    X = data(n_rows)
    n, nonfinite, mean, scatter = unpack_moments(chunk_moments(X), 4)
    n_ref, mean_ref, scatter_ref = reference_moments(X)
    assert (n, nonfinite) == (n_ref, 0)
    assert_allclose(mean, mean_ref, rtol=1e-14)
    assert_allclose(scatter, scatter_ref, rtol=1e-10, atol=1e-10 * np.abs(scatter_ref).max())


def test_float32_chunks_give_float32_accurate_moments():
    # far from the origin: rounding the mean to float32 moves it by up to
    # 1e6 * 6e-8 = 0.06 spreads, which would bias the scatter by ~1e-4 if not removed
    X = data(3000, offset=1e6).astype(np.float32)
    _, _, mean, scatter = unpack_moments(chunk_moments(X), 4)
    _, mean_ref, scatter_ref = reference_moments(X)
    assert_allclose(mean, mean_ref, rtol=1e-12)
    assert_allclose(scatter, scatter_ref, rtol=1e-5, atol=1e-5 * np.abs(scatter_ref).max())


def test_empty_chunk_has_zero_moments_and_merges_away():
    empty = chunk_moments(np.empty((0, 4)))
    assert empty.shape == (moments_size(4),)
    assert not empty.any()
    full = chunk_moments(data(50))
    assert_allclose(merge_packed_moments(np.stack([empty, full, empty]), 4), full, rtol=1e-14)
    assert not merge_packed_moments(np.stack([empty, empty]), 4).any()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_are_counted(value):
    X = data(20)
    X[3, 1] = X[11, 2] = value
    n, nonfinite, _, _ = unpack_moments(chunk_moments(X), 4)
    assert nonfinite == 2
    assert n == 0  # a bad chunk contributes no moments


def test_overflowing_values_raise_with_the_remedy():
    X = data(20) * 1e160
    with pytest.raises(ValueError, match=r"overflows float64.*Rescale"):
        chunk_moments(X)


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 60), min_size=1, max_size=5), seed=st.integers(0, 100))
def test_merging_chunks_gives_the_moments_of_their_union(cuts, seed):
    X = data(60, seed=seed)
    bounds = [0, *sorted(cuts), 60]
    parts = np.stack([chunk_moments(X[a:b]) for a, b in itertools.pairwise(bounds)])
    n, _, mean, scatter = unpack_moments(merge_packed_moments(parts, 4), 4)
    n_ref, mean_ref, scatter_ref = reference_moments(X)
    assert n == n_ref
    assert_allclose(mean, mean_ref, rtol=1e-13)
    assert_allclose(scatter, scatter_ref, rtol=1e-10, atol=1e-10 * np.abs(scatter_ref).max())
    # a tree of merges equals one flat merge (the reduction's shape does not matter)
    merge = functools.partial(merge_packed_moments, n_features=4)
    nested = functools.reduce(lambda a, b: merge(np.stack([a, b])), parts)
    assert_allclose(nested, merge(parts), rtol=1e-10, atol=1e-10 * np.abs(scatter_ref).max())


def test_merging_diagonals_gives_the_variance():
    X = data(90)
    parts = [X[:10], X[10:75], X[75:]]
    n, mean, diag = merge_moments(
        [len(p) for p in parts], [p.mean(axis=0) for p in parts],
        [((p - p.mean(axis=0)) ** 2).sum(axis=0) for p in parts],
    )
    assert n == 90
    assert_allclose(mean, X.mean(axis=0), rtol=1e-14)
    assert_allclose(diag / n, X.var(axis=0), rtol=1e-12)


@pytest.mark.parametrize("n_rows", [3, 4, 50])
def test_spectrum_of_a_scatter_is_the_svd_of_the_matrix(n_rows):
    A = data(n_rows, offset=0.0, seed=3)
    S, Vt = scatter_spectrum(A.T @ A, n_rows)
    _, S_ref, Vt_ref = np.linalg.svd(A, full_matrices=False)
    assert S.shape == S_ref.shape and Vt.shape == Vt_ref.shape
    assert_allclose(S, S_ref, rtol=1e-10, atol=1e-12 * S_ref[0])
    # components are unit vectors spanning the same directions, up to sign
    assert_allclose(np.abs(np.sum(Vt * Vt_ref, axis=1)), 1.0, rtol=1e-8)
    # scikit-learn's sign rule: the largest entry of each component is positive
    assert (Vt[np.arange(len(Vt)), np.abs(Vt).argmax(axis=1)] > 0).all()
