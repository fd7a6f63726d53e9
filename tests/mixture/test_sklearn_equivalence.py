"""Given the same initial parameters, daskmix reaches scikit-learn's fitted model."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from daskmix import GaussianMixture
from tests._covariance_cases import SKLEARN_TYPES
from tests.conftest import N_COMPONENTS, as_dask

FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def initial_values(X, covariance_type):
    """Initial parameters from a one-iteration scikit-learn fit on a subset."""
    start = SkGaussianMixture(
        N_COMPONENTS, covariance_type=covariance_type, max_iter=1, random_state=0
    )
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X[::5])
    return {
        "weights_init": start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def assert_same_model(ours, reference, rtol):
    for name in FITTED:
        expected = getattr(reference, name)
        scale = np.max(np.abs(expected))
        assert_allclose(getattr(ours, name), expected, rtol=rtol, atol=rtol * scale,
                        err_msg=name)
    assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=rtol)
    assert ours.n_iter_ == reference.n_iter_
    assert ours.converged_ == reference.converged_
    assert_allclose(ours.lower_bounds_, reference.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("split_every", [2, None])
@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_matches_sklearn_float64(blobs, chunk_layout, covariance_type, split_every):
    X, _ = blobs
    init = initial_values(X, covariance_type)
    reference = SkGaussianMixture(N_COMPONENTS, covariance_type=covariance_type, **init).fit(X)
    ours = GaussianMixture(
        N_COMPONENTS, covariance_type=covariance_type, split_every=split_every, **init
    ).fit(as_dask(X, chunk_layout[1]))
    assert ours.means_.dtype == np.float64
    assert_same_model(ours, reference, rtol=1e-6)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_matches_sklearn_float32(blobs, chunk_layout, covariance_type):
    X, _ = blobs
    init = initial_values(X, covariance_type)
    reference = SkGaussianMixture(N_COMPONENTS, covariance_type=covariance_type, **init).fit(X)
    ours = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, **init).fit(
        as_dask(X.astype(np.float32), chunk_layout[1])
    )
    for name in FITTED:
        assert getattr(ours, name).dtype == np.float32, name
    assert_same_model(ours, reference, rtol=2e-4)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_numpy_input_matches_sklearn(blobs, covariance_type):
    X, _ = blobs
    init = initial_values(X, covariance_type)
    reference = SkGaussianMixture(N_COMPONENTS, covariance_type=covariance_type, **init).fit(X)
    ours = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, **init).fit(X)
    assert_same_model(ours, reference, rtol=1e-6)
    assert_allclose(ours.score_samples(X), reference.score_samples(X), rtol=1e-6)
    assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert_allclose(ours.bic(X), reference.bic(X), rtol=1e-6)
    assert_allclose(ours.aic(X), reference.aic(X), rtol=1e-6)
    assert_allclose(ours.score(X), reference.score(X), rtol=1e-6)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_random_from_data_init_matches_sklearn(blobs, covariance_type):
    """scikit-learn draws the same rows from the same RandomState, so the fits agree."""
    X, _ = blobs
    kw = dict(covariance_type=covariance_type, init_params="random_from_data", random_state=3)
    reference = SkGaussianMixture(N_COMPONENTS, **kw).fit(X)
    ours = GaussianMixture(N_COMPONENTS, **kw).fit(as_dask(X, (100,) * 6))
    # The first bound is evaluated with variances of reg_covar = 1e-6, so its
    # quadratic form (~1e7) carries cancellation error ~1e-5 relative in
    # scikit-learn's unshifted expansion; later bounds must agree to 1e-6.
    assert_allclose(ours.lower_bounds_[0], reference.lower_bounds_[0], rtol=1e-4)
    ours.lower_bounds_ = ours.lower_bounds_[1:]
    reference.lower_bounds_ = reference.lower_bounds_[1:]
    assert_same_model(ours, reference, rtol=1e-6)


def test_warm_start_matches_sklearn(blobs):
    X, _ = blobs
    init = initial_values(X, "full")
    kw = dict(warm_start=True, max_iter=2, tol=0.0, **init)
    reference = SkGaussianMixture(N_COMPONENTS, **kw)
    ours = GaussianMixture(N_COMPONENTS, **kw)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reference.fit(X)
        with pytest.warns(ConvergenceWarning):
            ours.fit(as_dask(X, (200,) * 3))
    assert_same_model(ours, reference, rtol=1e-6)


def test_random_from_data_tied_starts_from_the_drawn_points(blobs):
    """With one drawn row per component the tied initial covariance is reg_covar * I.

    scikit-learn differs here on purpose-free grounds: its tied formula sums
    x x^T over all rows although the one-hot responsibilities cover only the
    drawn rows, giving a covariance about n_samples / n_components too large.
    """
    X, _ = blobs
    ours = GaussianMixture(N_COMPONENTS, covariance_type="tied",
                           init_params="random_from_data", random_state=0, max_iter=0)
    ours.fit(X)
    assert_allclose(ours.covariances_, 1e-6 * np.eye(X.shape[1]), rtol=1e-6, atol=1e-10)
    drawn = np.random.RandomState(0).choice(len(X), N_COMPONENTS, replace=False)
    assert_allclose(ours.means_, X[drawn], rtol=1e-12)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_float32_fit_agrees_with_float64_fit(covariance_type):
    """On well-conditioned data far from the origin, float32 keeps float32 precision.

    The chunk work is float32 end to end; statistics are summed in float64 per
    tile and centred on the current means, so after 20 iterations the fitted
    parameters still agree with the float64 fit to about 1e-6 of their scale.
    """
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(50_000, n_features=8, centers=5, random_state=0,
                      cluster_std=[1.0, 2.0, 0.5, 1.5, 1.0])
    X += 50.0
    start = SkGaussianMixture(5, covariance_type=covariance_type, max_iter=2, random_state=0)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X[:2000])
    init = dict(means_init=start.means_, weights_init=start.weights_,
                precisions_init=start.precisions_)
    fits = [
        GaussianMixture(5, covariance_type=covariance_type, tol=1e-9, max_iter=20, **init)
        .fit(as_dask(X.astype(dtype), (7000,) * 7 + (1000,)))
        for dtype in (np.float64, np.float32)
    ]
    for name in ("weights_", "means_", "covariances_"):
        expected = getattr(fits[0], name)
        assert_allclose(getattr(fits[1], name), expected, rtol=1e-5,
                        atol=1e-5 * np.max(np.abs(expected)), err_msg=name)
    assert_allclose(fits[1].lower_bound_, fits[0].lower_bound_, rtol=1e-6)
