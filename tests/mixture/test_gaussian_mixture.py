"""Behaviour of GaussianMixture: invariances, the estimator contract, degenerate data."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from daskmix import GaussianMixture
from daskmix.exceptions import DegenerateComponentWarning
from daskmix.mixture.covariance import COVARIANCE_TYPES
from tests._covariance_cases import covariance_settings
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, ComputeCounter, as_dask

INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]
FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def assert_same_fit(a, b, rtol=1e-8):
    for name in FITTED:
        expected = getattr(b, name)
        assert_allclose(getattr(a, name), expected, rtol=rtol,
                        atol=rtol * np.max(np.abs(expected)), err_msg=name)
    assert a.n_iter_ == b.n_iter_
    assert_allclose(a.lower_bound_, b.lower_bound_, rtol=rtol)


#: Every covariance type from the default init, and every init with full
#: covariances. Chunking can reach a fit in two places: the initialisation
#: (k-means over the chunks, rows drawn across them, random responsibilities
#: per chunk) and each type's M-step statistics, reduced over the chunks from
#: whatever responsibilities the init gave; the cross of the two (20 fits of
#: 4 layouts, factor analysers up to 300 iterations each) adds no path.
CHUNKING_CASES = sorted({(covariance_type, "kmeans") for covariance_type in COVARIANCE_TYPES}
                        | {("full", init_params) for init_params in INIT_PARAMS})


@pytest.mark.parametrize("covariance_type, init_params", CHUNKING_CASES)
def test_result_does_not_depend_on_chunking(blobs, covariance_type, init_params):
    X, _ = blobs
    fits = [
        GaussianMixture(N_COMPONENTS, **covariance_settings(covariance_type),
                        init_params=init_params, random_state=0).fit(as_dask(X, chunks))
        for chunks in CHUNK_LAYOUTS.values()
    ]
    for other in fits[1:]:
        assert_same_fit(other, fits[0])


@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_reproducible_with_random_state(blobs, init_params):
    X, _ = blobs
    a = GaussianMixture(N_COMPONENTS, init_params=init_params, random_state=7).fit(X)
    b = GaussianMixture(N_COMPONENTS, init_params=init_params, random_state=7).fit(X)
    assert_same_fit(a, b, rtol=1e-12)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_initialisations_find_the_blobs(blobs, init_params):
    X, y = blobs
    gm = GaussianMixture(N_COMPONENTS, init_params=init_params, random_state=0, n_init=2)
    labels = gm.fit_predict(as_dask(X, (200,) * 3)).compute()
    reference = SkGaussianMixture(N_COMPONENTS, random_state=0, n_init=5).fit(X)
    # the blobs touch, so a handful of boundary points may go either way
    assert adjusted_rand_score(y, labels) > 0.97
    assert gm.lower_bound_ > reference.lower_bound_ - 1e-3 * abs(reference.lower_bound_)


def test_fit_predict_equals_fit_then_predict(blobs):
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    gm = GaussianMixture(N_COMPONENTS, random_state=0, max_iter=3, tol=0)
    with pytest.warns(ConvergenceWarning):
        labels = gm.fit_predict(Xd)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), gm.predict(X))
    with pytest.warns(ConvergenceWarning):
        assert_array_equal(gm.fit_predict(X), gm.predict(X))


def test_dask_in_lazy_dask_out(blobs):
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    gm = GaussianMixture(N_COMPONENTS, random_state=0).fit(Xd)
    for method, shape in [("predict", (len(X),)), ("score_samples", (len(X),)),
                          ("predict_proba", (len(X), N_COMPONENTS))]:
        lazy = getattr(gm, method)(Xd)
        assert isinstance(lazy, da.Array), method
        assert lazy.shape == shape
        assert lazy.chunks[0] == Xd.chunks[0]
        eager = getattr(gm, method)(X)
        assert isinstance(eager, np.ndarray)
        assert_allclose(lazy.compute(), eager, rtol=1e-12)
    proba = gm.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(proba.argmax(axis=1), gm.predict(X))
    assert isinstance(gm.score(Xd), float)
    assert_allclose(gm.score(Xd), gm.score_samples(X).mean())


@pytest.mark.parametrize("covariance_type", sorted(COVARIANCE_TYPES))
def test_integer_sample_weights_equal_repeated_rows(blobs, covariance_type):
    X, _ = blobs
    counts = np.random.RandomState(0).randint(0, 4, size=len(X))
    init = dict(means_init=X[[0, 1, 2]], weights_init=np.full(3, 1 / 3))
    kw = dict(init_params="random_from_data", **covariance_settings(covariance_type), **init)
    weighted = GaussianMixture(N_COMPONENTS, random_state=0, **kw).fit(
        as_dask(X, (150,) * 4), sample_weight=counts
    )
    repeated = GaussianMixture(N_COMPONENTS, random_state=0, **kw).fit(np.repeat(X, counts, axis=0))
    assert_same_fit(weighted, repeated, rtol=1e-7)


def test_unit_sample_weights_change_nothing(blobs):
    X, _ = blobs
    a = GaussianMixture(N_COMPONENTS, random_state=0).fit(X)
    b = GaussianMixture(N_COMPONENTS, random_state=0).fit(X, sample_weight=np.ones(len(X)))
    c = GaussianMixture(N_COMPONENTS, random_state=0).fit(
        as_dask(X, (300, 300)), sample_weight=da.ones(len(X), chunks=100)
    )
    assert_same_fit(a, b, rtol=1e-10)
    assert_same_fit(a, c, rtol=1e-10)


def test_n_init_keeps_the_best_initialisation(blobs):
    X, _ = blobs
    # the first of n_init initialisations is the single one with the same seed
    single = GaussianMixture(N_COMPONENTS, init_params="random_from_data", random_state=4).fit(X)
    best = GaussianMixture(N_COMPONENTS, init_params="random_from_data", n_init=6,
                           random_state=4).fit(X)
    assert best.lower_bound_ >= single.lower_bound_
    assert best.lower_bounds_[-1] == best.lower_bound_
    assert len(best.lower_bounds_) == best.n_iter_


def test_max_iter_zero_returns_the_initial_model(blobs):
    X, _ = blobs
    means = X[[0, 250, 500]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(N_COMPONENTS, max_iter=0, means_init=means).fit(X)
    assert gm.n_iter_ == 0
    assert gm.lower_bounds_ == []
    assert_allclose(gm.means_, means)


def test_convergence_warning_when_max_iter_is_too_small(blobs):
    X, _ = blobs
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(N_COMPONENTS, max_iter=1, init_params="random", random_state=0).fit(X)
    assert not gm.converged_


@pytest.mark.parametrize("covariance_type", sorted(COVARIANCE_TYPES))
def test_sample_draws_from_the_model(blobs, covariance_type):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, random_state=0,
                         **covariance_settings(covariance_type)).fit(X)
    Xs, ys = gm.sample(20_000)
    assert Xs.shape == (20_000, X.shape[1])
    assert_allclose(np.bincount(ys, minlength=3) / 20_000, gm.weights_, atol=0.02)
    for k in range(N_COMPONENTS):
        assert_allclose(Xs[ys == k].mean(axis=0), gm.means_[k], atol=0.15)
    with pytest.raises(ValueError, match="at least one sample"):
        gm.sample(0)


def test_duplicate_points_and_constant_features_do_not_crash():
    rng = np.random.RandomState(0)
    X = np.repeat(rng.randn(4, 3), 50, axis=0)
    X[:, 2] = 5.0  # a constant feature
    for covariance_type in sorted(COVARIANCE_TYPES):
        gm = GaussianMixture(4, random_state=0, **covariance_settings(covariance_type))
        gm.fit(as_dask(X, (50,) * 4))
        assert np.all(np.isfinite(gm.means_))
        assert np.all(np.isfinite(gm.precisions_cholesky_))
        assert np.isfinite(gm.lower_bound_)


def test_identical_rows_with_several_components():
    X = np.ones((30, 2))
    gm = GaussianMixture(2, random_state=0)
    # k-means puts every row in one cluster; the empty one is re-seeded
    with pytest.warns(DegenerateComponentWarning):
        gm.fit(X)
    assert_allclose(gm.means_, 1.0)
    assert np.isfinite(gm.lower_bound_)


def test_an_empty_component_is_reseeded_with_a_warning(blobs):
    X, y = blobs
    centres = np.stack([X[y == k].mean(axis=0) for k in range(2)])
    far = X.mean(axis=0) + 1e4
    means_init = np.vstack([centres, far])
    gm = GaussianMixture(N_COMPONENTS, means_init=means_init, random_state=0)
    with pytest.warns(DegenerateComponentWarning, match=r"Component\(s\) \[2\] collapsed"):
        gm.fit(as_dask(X, (200,) * 3))
    good = GaussianMixture(N_COMPONENTS, random_state=0).fit(X)
    assert np.all(gm.weights_ > 0.2)
    assert_allclose(gm.lower_bound_, good.lower_bound_, rtol=1e-3)


def test_singular_covariance_is_reseeded_not_fatal():
    """reg_covar=0 and a component on one repeated point: its covariance is singular."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(200, 2), np.repeat([[20.0, 20.0]], 20, axis=0)])
    means_init = np.array([[0.0, 0.0], [1.0, 1.0], [20.0, 20.0]])
    gm = GaussianMixture(3, reg_covar=0.0, means_init=means_init, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(DegenerateComponentWarning):
            gm.fit(X)
    assert np.all(np.isfinite(gm.precisions_cholesky_))


def test_a_failed_fit_leaves_the_fitted_estimator_unchanged(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, random_state=0).fit(X)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(gm).items()}
    bad = X.copy()
    bad[10, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.fit(as_dask(bad, (150,) * 4))
    # a different feature count passes validation before the weights fail
    with pytest.raises(ValueError, match="negative"):
        gm.fit(np.hstack([X, X]), sample_weight=-np.ones(len(X)))
    assert set(vars(gm)) == set(before)
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(getattr(gm, key), value)
        else:
            assert getattr(gm, key) == value, key
    assert gm.n_features_in_ == X.shape[1]


def test_progress_in_a_log_is_plain_lines(blobs, capsys):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, random_state=0, progress=True).fit(X)
    err = capsys.readouterr().err  # not a terminal: no redrawn bar
    assert "\r" not in err
    lines = err.splitlines()
    assert lines[0] == "GaussianMixture init 1/1: initialising (kmeans)"
    assert lines[-1].startswith(
        f"GaussianMixture init 1/1: done after {gm.n_iter_} of at most {gm.max_iter} EM "
        f"iterations, lower bound {gm.lower_bound_:.6g}, "
    )
    assert gm.n_iter_ < gm.max_iter  # converged early: the total stayed max_iter


def test_verbose_prints_like_sklearn(blobs, capsys):
    X, _ = blobs
    GaussianMixture(N_COMPONENTS, random_state=0, verbose=2, verbose_interval=1).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out
    assert "Iteration 1\t time lapse" in out
    assert "Initialization converged." in out


@pytest.mark.parametrize("n_samples", [1000, 2**20 + 1, 10**9])
def test_row_draws_are_distinct_and_cost_memory_of_the_sample_only(n_samples):
    from daskmix.mixture._init import draw_rows

    rows = draw_rows(np.random.RandomState(0), n_samples, 500)
    assert rows.shape == (500,)
    assert len(np.unique(rows)) == 500
    assert rows.min() >= 0 and rows.max() < n_samples
    again = draw_rows(np.random.RandomState(0), n_samples, 500)
    assert_array_equal(rows, again)


def test_subsample_then_warm_start_recipe_reaches_the_full_fit(blobs):
    """The documented recipe: fit every tenth row, then all rows from there."""
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    recipe = GaussianMixture(3, warm_start=True, random_state=0, tol=1e-8, max_iter=500)
    recipe.fit(Xd[::10])
    assert recipe.means_.shape == (3, 3)
    with ComputeCounter() as counter:
        recipe.fit(Xd)
    assert counter.count == recipe.n_iter_  # no initialisation pass
    direct = GaussianMixture(3, random_state=0, tol=1e-8, max_iter=500).fit(Xd)
    assert recipe.lower_bound_ == pytest.approx(direct.lower_bound_, rel=1e-6)
    order = np.argsort(recipe.means_[:, 0])
    assert_allclose(recipe.means_[order], direct.means_[np.argsort(direct.means_[:, 0])],
                    rtol=1e-4)
