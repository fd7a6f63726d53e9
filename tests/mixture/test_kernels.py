"""Chunk kernels against independent references, with no scheduler at all."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from daskmix.mixture._params import GaussianParams, estep_params, params_from_stats
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture.kernels.suffstats import StatsLayout, chunk_em_stats, chunk_log_prob_resp
from tests._covariance_cases import SKLEARN_TYPES, STEPWISE_TYPES


def random_params(covariance_type, n_components=3, n_features=4, seed=0):
    """Random means and positive-definite covariances of the given type."""
    rng = np.random.RandomState(seed)
    covariance = get_covariance_type(covariance_type)
    means = rng.randn(n_components, n_features) * 3 + 10
    A = rng.randn(n_components, n_features, n_features)
    full = A @ A.transpose(0, 2, 1) + n_features * np.eye(n_features)
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": np.stack([np.diag(c) for c in full]),
        "spherical": np.array([np.trace(c) / n_features for c in full]),
    }[covariance_type]
    weights = rng.dirichlet(np.ones(n_components))
    prec_chol = covariance.precision_cholesky(covariances)
    return covariance, GaussianParams(weights, means, covariances, prec_chol)


def dense_covariances(covariance_type, covariances, n_components, n_features):
    """Every type's covariances as (n_components, n_features, n_features)."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(n_features) for c in covariances])


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_log_densities_match_scipy(covariance_type):
    covariance, params = random_params(covariance_type)
    X = np.random.RandomState(1).randn(50, 4) * 3 + 10
    dense = dense_covariances(covariance_type, params.covariances, 3, 4)
    expected = np.stack(
        [multivariate_normal(m, c).logpdf(X) for m, c in zip(params.means, dense)], axis=1
    )
    kernel = estep_params(covariance, params, np.float64)
    design = covariance.prepare(X, kernel.shift)
    got = covariance.log_prob_t(design, kernel.centres, kernel.prec_chol).T
    assert_allclose(got, expected, rtol=1e-10)
    mixture = np.log(np.exp(expected) @ params.weights)
    assert_allclose(chunk_log_prob_resp(X, kernel, "score_samples"), mixture, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_m_step_matches_weighted_moments(covariance_type):
    """One E-step + M-step equals the closed-form responsibility-weighted moments."""
    covariance, params = random_params(covariance_type)
    rng = np.random.RandomState(2)
    X = rng.randn(80, 4) * 3 + 10
    w = rng.uniform(0.5, 2.0, size=(80, 1))
    kernel = estep_params(covariance, params, np.float64)
    layout = StatsLayout(3, 4, covariance.second_moment_shape(3, 4))
    stats = layout.unpack(chunk_em_stats(X, w, kernel, layout))
    new = params_from_stats(covariance, stats, kernel.shift, kernel.centres, 0.0,
                            np.float64, normalize_weights=True)

    resp = chunk_log_prob_resp(X, kernel, "predict_proba") * w
    nk = resp.sum(axis=0)
    means = resp.T @ X / nk[:, None]
    full = np.stack(
        [((X - m) * r[:, None]).T @ (X - m) / n for m, r, n in zip(means, resp.T, nk)]
    )
    expected = {
        "full": full,
        "tied": np.sum(full * nk[:, None, None], axis=0) / nk.sum(),
        "diag": np.stack([np.diag(c) for c in full]),
        "spherical": np.array([np.trace(c) / 4 for c in full]),
    }[covariance_type]
    assert_allclose(new.weights, nk / nk.sum(), rtol=1e-10)
    assert_allclose(new.means, means, rtol=1e-10)
    assert_allclose(new.covariances, expected, rtol=1e-9)
    assert_allclose(stats["loglik"], w[:, 0] @ chunk_log_prob_resp(X, kernel, "score_samples"))
    assert_allclose(stats["weight"], w.sum())


@settings(max_examples=25, deadline=None)
@given(
    covariance_type=st.sampled_from(SKLEARN_TYPES),
    split=st.integers(min_value=0, max_value=40),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_statistics_of_a_union_are_the_sum(covariance_type, split, seed):
    """combine(stats(A), stats(B)) == stats(A u B): chunking cannot change a pass."""
    covariance, params = random_params(covariance_type, seed=seed % 7)
    X = np.random.RandomState(seed).randn(40, 4) * 2 + 10
    kernel = estep_params(covariance, params, np.float64)
    layout = StatsLayout(3, 4, covariance.second_moment_shape(3, 4))
    whole = chunk_em_stats(X, None, kernel, layout)
    parts = chunk_em_stats(X[:split], None, kernel, layout) + chunk_em_stats(
        X[split:], None, kernel, layout
    )
    assert_allclose(parts, whole, rtol=1e-9, atol=1e-9)


def test_nonfinite_values_are_counted_only_when_asked():
    covariance, params = random_params("diag")
    X = np.random.RandomState(0).randn(10, 4)
    X[3, 1] = np.nan
    X[5, 2] = np.inf
    kernel = estep_params(covariance, params, np.float64)
    layout = StatsLayout(3, 4, covariance.second_moment_shape(3, 4))
    assert layout.unpack(chunk_em_stats(X, None, kernel, layout, check_finite=True))[
        "nonfinite"
    ] == 2
    assert layout.unpack(chunk_em_stats(X[:3], None, kernel, layout, check_finite=True))[
        "nonfinite"
    ] == 0


@pytest.mark.parametrize("n_design", [1, 65, 561, 10_000])
@pytest.mark.parametrize("n_components", [1, 32, 1024, 100_000])
def test_tiles_bound_the_temporaries(n_components, n_design):
    from daskmix.mixture.kernels.suffstats import tile_rows

    rows = tile_rows(n_components, n_design)
    assert 256 <= rows <= 4096
    assert rows * n_components <= max(2**17, 256 * n_components)
    assert rows * n_design <= max(2**20, 256 * n_design)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_tiled_kernel_equals_one_big_tile(monkeypatch, covariance_type, dtype):
    """Statistics do not depend on the tile size (tiles are summed exactly)."""
    import daskmix.mixture.kernels.suffstats as suffstats

    covariance, params = random_params(covariance_type)
    X = (np.random.RandomState(3).randn(3000, 4) * 2 + 10).astype(dtype)
    kernel = estep_params(covariance, params, dtype)
    layout = StatsLayout(3, 4, covariance.second_moment_shape(3, 4))
    monkeypatch.setattr(suffstats, "tile_rows", lambda n_components, n_design=1: 256)
    tiled = chunk_em_stats(X, None, kernel, layout)
    monkeypatch.setattr(suffstats, "tile_rows", lambda n_components, n_design=1: 10**6)
    whole = chunk_em_stats(X, None, kernel, layout)
    assert_allclose(tiled, whole, rtol=1e-10 if dtype == np.float64 else 1e-5)


@pytest.mark.parametrize(
    "n_samples, n_features, expected",
    [(1_000_000, 32, 126_976), (10_000, 32, 4096), (10_000_000, 16, 262_144)],
)
def test_default_chunk_rows(n_samples, n_features, expected):
    from daskmix._validation import default_chunk_rows

    rows = default_chunk_rows(n_samples, n_features, n_workers=2)
    assert rows == expected
    assert rows % 4096 == 0
    assert rows * n_features <= max(2**22, 4096 * n_features)


@pytest.mark.parametrize("what", ["stats", "score_samples"])
def test_full_expanded_form_equals_direct_form(monkeypatch, what):
    """float64 full tiles expand the quadratic form; it must agree with the direct one."""
    import daskmix.mixture.covariance.full as covariance_module

    covariance, params = random_params("full")
    # far from the origin, where an expansion about zero would cancel badly
    params = dataclasses.replace(params, means=params.means + 1e4)
    X = np.random.RandomState(4).randn(500, 4) * 3 + 10 + 1e4
    kernel = estep_params(covariance, params, np.float64)
    layout = StatsLayout(3, 4, covariance.second_moment_shape(3, 4))

    def evaluate():
        if what == "stats":
            return chunk_em_stats(X, None, kernel, layout)
        return chunk_log_prob_resp(X, kernel, "score_samples")

    expanded = evaluate()
    monkeypatch.setattr(covariance_module, "_PAIRWISE_MAX_FEATURES", 0)
    direct = evaluate()
    assert_allclose(expanded, direct, rtol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", STEPWISE_TYPES)
def test_second_moment_moves_to_the_shift(covariance_type, dtype):
    """moments about the centres, moved to the shift, equal moments about the shift."""
    covariance = get_covariance_type(covariance_type)
    rng = np.random.RandomState(5)
    Y = rng.randn(300, 4).astype(dtype)
    resp_t = rng.dirichlet(np.ones(3), size=300).T.astype(dtype)
    centres = rng.randn(3, 4).astype(dtype)
    D = covariance.prepare(Y, np.zeros(4, dtype=dtype))
    nk, sy, s2 = covariance.moments(D, resp_t, centres)
    _, _, about_shift = covariance.moments(D, resp_t, np.zeros_like(centres))
    moved = covariance.second_moment_about_shift(
        np.asarray(s2, dtype=np.float64), np.asarray(nk, np.float64),
        np.asarray(sy, np.float64), centres.astype(np.float64),
    )
    assert_allclose(moved, about_shift, rtol=1e-10 if dtype == np.float64 else 1e-4,
                    atol=1e-10 if dtype == np.float64 else 1e-3)
