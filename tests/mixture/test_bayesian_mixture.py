"""BayesianGaussianMixture: batch VI against scikit-learn from the same start, priors, outputs."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

import daskmix.mixture._bayesian_mixture as bayesian_module
from daskmix import BayesianGaussianMixture
from daskmix.mixture import _init
from daskmix.mixture.variational import WEIGHT_PRIORS
from tests._covariance_cases import SKLEARN_TYPES
from tests.conftest import CHUNK_LAYOUTS, as_dask

PRIOR_TYPES = sorted(WEIGHT_PRIORS)
N_FIT_COMPONENTS = 4

#: The fitted attributes compared with scikit-learn's.
FITTED = (
    "weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
    "mean_precision_", "degrees_of_freedom_", "mean_prior_", "covariance_prior_",
    "weight_concentration_prior_", "mean_precision_prior_", "degrees_of_freedom_prior_",
)


def random_resp(n_samples, n_components, seed=0):
    """Uniform random responsibilities, normalised per row (scikit-learn's ``"random"``)."""
    resp = np.random.RandomState(seed).uniform(size=(n_samples, n_components))
    return resp / resp.sum(axis=1, keepdims=True)


class _SkFromResp(SkBayesianGaussianMixture):
    """scikit-learn's estimator started from the responsibilities ``self.start_resp``."""

    def _initialize_parameters(self, X, random_state, xp=None):
        self._initialize(X, self.start_resp)


class _RowsOf:
    """Responsibilities of global rows, read from one array (a chunk-kernel ``resp_fn``)."""

    def __init__(self, resp):
        self.resp = resp

    def __call__(self, X, row_start):
        return self.resp[row_start: row_start + len(X)]

    def __dask_tokenize__(self):
        return ("test-rows-of", self.resp)


@pytest.fixture
def start_from(monkeypatch):
    """Make daskmix's initialisation the statistics of given responsibilities."""

    def start(X, resp):
        centres = resp.T @ X / resp.sum(axis=0)[:, None]

        def initial(method, ctx, rng):
            return _init._stats_pass(ctx, _RowsOf(resp), X.mean(axis=0), centres)

        monkeypatch.setattr(bayesian_module, "initial_params", initial)

    return start


def sklearn_fit(X, resp, **params):
    reference = _SkFromResp(n_components=resp.shape[1], **params)
    reference.start_resp = resp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return reference.fit(X)


def assert_same_posterior(ours, reference, rtol):
    for name in FITTED:
        expected = np.asarray(getattr(reference, name))
        assert_allclose(getattr(ours, name), expected, rtol=rtol,
                        atol=rtol * np.max(np.abs(expected)), err_msg=name)
    for ours_part, reference_part in zip(np.atleast_2d(ours.weight_concentration_),
                                         np.atleast_2d(reference.weight_concentration_)):
        assert_allclose(ours_part, reference_part, rtol=rtol)
    assert type(ours.weight_concentration_) is type(reference.weight_concentration_)
    assert ours.n_iter_ == reference.n_iter_
    assert ours.converged_ == reference.converged_
    assert_allclose(ours.lower_bound_, np.ravel(reference.lower_bound_)[0], rtol=rtol)
    assert_allclose(ours.lower_bounds_, np.ravel(reference.lower_bounds_), rtol=rtol)


#: Every chunk layout with every covariance type, the weight prior alternating:
#: every pair of (layout, type, prior) values is compared with scikit-learn in
#: 16 fits. The 4 x 4 x 2 cross (32 fits to convergence) repeated each type and
#: prior on every layout; that the layout changes no fit is also checked by
#: test_results_do_not_depend_on_chunking_or_split_every.
BATCH_CASES = [(layout, covariance_type, PRIOR_TYPES[(i + j) % len(PRIOR_TYPES)])
               for i, layout in enumerate(sorted(CHUNK_LAYOUTS))
               for j, covariance_type in enumerate(SKLEARN_TYPES)]


@pytest.mark.parametrize("layout, covariance_type, prior_type", BATCH_CASES)
def test_batch_vi_matches_sklearn(blobs, layout, covariance_type, prior_type, start_from):
    X, _ = blobs
    resp = random_resp(len(X), N_FIT_COMPONENTS)
    params = dict(covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
                  max_iter=500)
    reference = sklearn_fit(X, resp, **params)
    start_from(X, resp)
    ours = BayesianGaussianMixture(N_FIT_COMPONENTS, **params).fit(
        as_dask(X, CHUNK_LAYOUTS[layout]))
    assert ours.converged_
    assert_same_posterior(ours, reference, rtol=1e-6)


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_numpy_input_and_outputs_match_sklearn(blobs, covariance_type, start_from):
    """In-memory input runs inline; the row-wise outputs are scikit-learn's too."""
    X, _ = blobs
    resp = random_resp(len(X), N_FIT_COMPONENTS, seed=1)
    params = dict(covariance_type=covariance_type, weight_concentration_prior=0.05,
                  mean_precision_prior=0.5, degrees_of_freedom_prior=5.0, tol=1e-6,
                  max_iter=2000)
    reference = sklearn_fit(X, resp, **params)
    start_from(X, resp)
    ours = BayesianGaussianMixture(N_FIT_COMPONENTS, **params).fit(X)
    assert_same_posterior(ours, reference, rtol=1e-6)
    assert_allclose(ours.score_samples(X), reference.score_samples(X), rtol=1e-6)
    assert_allclose(ours.predict_proba(X), reference.predict_proba(X), atol=1e-6)
    assert_allclose(ours.score(X), reference.score(X), rtol=1e-6)
    np.testing.assert_array_equal(ours.predict(X), reference.predict(X))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_random_from_data_init_matches_sklearn(blobs, covariance_type):
    """scikit-learn draws the same rows from the same RandomState, so the fits agree.

    (Not ``tied``: its one-hot initial covariance differs on purpose, see
    ``test_sklearn_equivalence``.)
    """
    X, _ = blobs
    params = dict(covariance_type=covariance_type, init_params="random_from_data",
                  random_state=3, max_iter=500)
    reference = SkBayesianGaussianMixture(n_components=N_FIT_COMPONENTS, **params).fit(X)
    ours = BayesianGaussianMixture(N_FIT_COMPONENTS, **params).fit(as_dask(X, (100,) * 6))
    # the first E-step sees variances of reg_covar: its bound carries the
    # cancellation error of scikit-learn's unshifted expansion
    assert_allclose(ours.lower_bounds_[0], reference.lower_bounds_[0], rtol=1e-4)
    ours.lower_bounds_ = ours.lower_bounds_[1:]
    reference.lower_bounds_ = reference.lower_bounds_[1:]
    assert_same_posterior(ours, reference, rtol=1e-6)


def test_user_priors_match_sklearn(blobs, start_from):
    X, _ = blobs
    resp = random_resp(len(X), N_FIT_COMPONENTS, seed=2)
    params = dict(covariance_type="full", mean_prior=np.array([40.0, 50.0, 60.0]),
                  covariance_prior=np.diag([2.0, 3.0, 4.0]), degrees_of_freedom_prior=3.5)
    reference = sklearn_fit(X, resp, **params)
    start_from(X, resp)
    ours = BayesianGaussianMixture(N_FIT_COMPONENTS, **params).fit(as_dask(X, (200,) * 3))
    assert_same_posterior(ours, reference, rtol=1e-6)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_lower_bound_never_decreases(blobs, covariance_type, prior_type):
    X, _ = blobs
    ours = BayesianGaussianMixture(
        8, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
        tol=1e-6, max_iter=200, random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours.fit(as_dask(X, (150,) * 4))
    bounds = np.asarray(ours.lower_bounds_)
    assert len(bounds) > 2
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))


def test_dirichlet_process_switches_off_unneeded_components(blobs):
    X, _ = blobs
    ours = BayesianGaussianMixture(10, weight_concentration_prior=1e-3, max_iter=500,
                                   random_state=0).fit(as_dask(X, (150,) * 4))
    assert np.sum(ours.weights_ > 1e-2) == 3
    assert_allclose(ours.weights_.sum(), 1.0)


def test_results_do_not_depend_on_chunking_or_split_every(blobs):
    X, _ = blobs
    fits = [
        BayesianGaussianMixture(N_FIT_COMPONENTS, random_state=0, split_every=split_every)
        .fit(as_dask(X, chunks))
        for chunks, split_every in [((600,), None), ((7, 293, 100, 1, 199), 2)]
    ]
    for name in ("weights_", "means_", "covariances_", "degrees_of_freedom_"):
        assert_allclose(getattr(fits[1], name), getattr(fits[0], name), rtol=1e-9,
                        err_msg=name)


def test_sample_weight_counts_rows(blobs):
    """Integer weights give the fit of the data with rows repeated."""
    X, _ = blobs
    counts = np.random.RandomState(0).randint(0, 3, size=len(X))
    kw = dict(covariance_type="diag", init_params="random_from_data", random_state=1,
              mean_prior=X.mean(axis=0), covariance_prior=X.var(axis=0))
    weighted = BayesianGaussianMixture(N_FIT_COMPONENTS, **kw)
    repeated = BayesianGaussianMixture(N_FIT_COMPONENTS, **kw)
    # the rows drawn by random_from_data differ between the two inputs: start
    # both from the fit's own first posterior instead
    weighted.set_params(max_iter=0)
    weighted.fit(as_dask(X, (300, 300)), sample_weight=counts)
    for est in (weighted, repeated):
        est.set_params(max_iter=200, warm_start=True)
        for name, value in vars(weighted).items():
            if name.endswith("_") and not name.startswith("_"):
                setattr(est, name, value)
    weighted.fit(as_dask(X, (300, 300)), sample_weight=counts)
    repeated.fit(np.repeat(X, counts, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-7,
                        err_msg=name)
    assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-9)


def test_outputs_are_lazy_for_dask_input(blobs):
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    ours = BayesianGaussianMixture(N_FIT_COMPONENTS, random_state=0).fit(Xd)
    for method in ("predict", "predict_proba", "score_samples"):
        lazy = getattr(ours, method)(Xd)
        assert isinstance(lazy, da.Array)
        assert_allclose(lazy.compute(), getattr(ours, method)(X))
        assert all(str(name).startswith("daskmix-") for name in lazy.dask.layers
                   if name not in Xd.dask.layers)
    assert_allclose(ours.predict_proba(X).sum(axis=1), 1.0)
    np.testing.assert_array_equal(ours.fit_predict(Xd).compute(), ours.predict(X))


def test_sample_draws_from_the_components(blobs):
    X, _ = blobs
    ours = BayesianGaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    samples, labels = ours.sample(3000)
    assert samples.shape == (3000, X.shape[1])
    for k in np.unique(labels):
        assert_allclose(samples[labels == k].mean(axis=0), ours.means_[k],
                        atol=5 * np.sqrt(ours.covariances_[k].max() / np.sum(labels == k)))


@pytest.mark.parametrize(("params", "message"), [
    ({"degrees_of_freedom_prior": 1.5}, "'degrees_of_freedom_prior' should be greater than 2"),
    ({"mean_prior": np.zeros(2)}, "'means' should have the shape"),
    ({"covariance_prior": np.eye(2)}, "'full covariance_prior' should have the shape"),
    ({"covariance_prior": -np.eye(3)}, "'full precision' should be symmetric, positive"),
    ({"covariance_type": "diag", "covariance_prior": np.array([1.0, -1.0, 1.0])},
     "'diag precision' should be positive"),
    ({"covariance_type": "tied", "covariance_prior": np.ones((3, 3))},
     "'tied precision' should be symmetric, positive"),
    ({"covariance_type": "factor"}, "no conjugate prior. Use GaussianMixture"),
])
def test_bad_priors_raise_clear_errors(blobs, params, message):
    X, _ = blobs
    with pytest.raises(ValueError, match=message):
        BayesianGaussianMixture(2, **params).fit(X)


def test_failed_fit_leaves_the_estimator_unchanged(blobs):
    X, _ = blobs
    ours = BayesianGaussianMixture(2, random_state=0).fit(X)
    means = ours.means_.copy()
    ours.set_params(degrees_of_freedom_prior=0.5)
    with pytest.raises(ValueError, match="degrees_of_freedom_prior"):
        ours.fit(X)
    np.testing.assert_array_equal(ours.means_, means)


def test_warm_start_matches_sklearn(blobs, start_from):
    X, _ = blobs
    resp = random_resp(len(X), N_FIT_COMPONENTS, seed=4)
    params = dict(covariance_type="diag", warm_start=True, max_iter=3, tol=0.0)
    reference = _SkFromResp(n_components=N_FIT_COMPONENTS, **params)
    reference.start_resp = resp
    start_from(X, resp)
    ours = BayesianGaussianMixture(N_FIT_COMPONENTS, **params)
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            reference.fit(X)
        with pytest.warns(ConvergenceWarning):
            ours.fit(as_dask(X, (200,) * 3))
    assert_same_posterior(ours, reference, rtol=1e-6)
