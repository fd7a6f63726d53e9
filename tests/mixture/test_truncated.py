"""GaussianMixture(algorithm="truncated"): truncated variational EM (v-GMM)."""

import warnings

import dask
import numpy as np
import pytest
from sklearn.datasets import make_blobs

from daskmix import GaussianMixture
from daskmix.exceptions import DegenerateComponentWarning
from tests.conftest import CHUNK_LAYOUTS, as_dask

N_BLOBS = 8

# fits with tol=0 run to max_iter on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def many_blobs():
    """Eight well-separated blobs in 3-D, 800 rows, offset from the origin."""
    X, _ = make_blobs(800, n_features=3, centers=N_BLOBS, cluster_std=0.7,
                      center_box=(-15, 15), random_state=3)
    return X + 40.0


def _init(X, covariance_type, n_components, seed=0):
    """Shared initial parameters (k-means-free: random data points, unit precisions)."""
    rng = np.random.RandomState(seed)
    means = X[rng.choice(len(X), n_components, replace=False)]
    d = X.shape[1]
    precisions = {"diag": np.ones((n_components, d)), "spherical": np.ones(n_components),
                  "full": np.tile(np.eye(d), (n_components, 1, 1))}[covariance_type]
    return dict(weights_init=np.full(n_components, 1.0 / n_components), means_init=means,
                precisions_init=precisions)


def _fit(X, chunks, **params):
    return GaussianMixture(random_state=0, **params).fit(as_dask(X, chunks))


@pytest.mark.parametrize("covariance_type", ["diag", "spherical", "full"])
def test_all_components_active_is_exact_em(blobs, covariance_type):
    X, _ = blobs
    init = _init(X, covariance_type, 3)
    common = dict(n_components=3, covariance_type=covariance_type, max_iter=8, tol=0.0,
                  **init)
    exact = _fit(X, (150,) * 4, algorithm="em", **common)
    truncated = _fit(X, (150,) * 4, algorithm="truncated", n_active=3, n_neighbors=2,
                     **common)
    np.testing.assert_allclose(truncated.lower_bounds_, exact.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(truncated.weights_, exact.weights_, rtol=1e-8)
    np.testing.assert_allclose(truncated.means_, exact.means_, rtol=1e-8)
    np.testing.assert_allclose(truncated.covariances_, exact.covariances_, rtol=1e-7)
    assert truncated.n_iter_ == exact.n_iter_ == 8
    # every point evaluates every component
    assert truncated.n_evaluations_.tolist() == [len(X) * 3] * 8


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_free_energy_never_decreases(many_blobs, covariance_type):
    gm = _fit(many_blobs, (200,) * 4, n_components=N_BLOBS, covariance_type=covariance_type,
              algorithm="truncated", n_active=2, n_neighbors=3, max_iter=25, tol=0.0,
              reg_covar=1e-6, **_init(many_blobs, covariance_type, N_BLOBS))
    bounds = np.asarray(gm.lower_bounds_)
    assert len(bounds) == 25
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]))
    # the truncated free energy bounds the exact log-likelihood from below
    assert gm.lower_bound_ <= gm.set_params(inference="exact").score(many_blobs) + 1e-9


def test_truncated_reaches_exact_em_quality_with_few_evaluations(many_blobs):
    init = _init(many_blobs, "diag", N_BLOBS)
    # start both near the same optimum: one data point of each blob
    _, labels = make_blobs(800, n_features=3, centers=N_BLOBS, cluster_std=0.7,
                           center_box=(-15, 15), random_state=3)
    init["means_init"] = np.array([many_blobs[labels == k][0] for k in range(N_BLOBS)])
    common = dict(n_components=N_BLOBS, covariance_type="diag", max_iter=100, tol=1e-6,
                  **init)
    exact = _fit(many_blobs, (400, 400), **common)
    truncated = _fit(many_blobs, (400, 400), algorithm="truncated", n_active=2,
                     n_neighbors=3, **common)
    assert truncated.converged_
    truncated.set_params(inference="exact")  # the exact log-likelihood of both models
    assert truncated.score(many_blobs) == pytest.approx(exact.score(many_blobs), abs=1e-6)
    assert truncated.lower_bound_ == pytest.approx(exact.lower_bound_, abs=1e-6)
    # S(n) holds at most n_active * n_neighbors + 1 = 7 of the 8 components
    assert np.all(truncated.n_evaluations_ <= 7 * len(many_blobs))
    assert truncated.n_evaluations_[-1] < 6 * len(many_blobs)
    assert len(truncated.n_evaluations_) == truncated.n_iter_


@pytest.mark.parametrize("layout", sorted(set(CHUNK_LAYOUTS) - {"even"}))
def test_chunking_does_not_change_the_result(blobs, layout):
    X, _ = blobs
    params = dict(n_components=3, covariance_type="diag", algorithm="truncated",
                  n_active=1, n_neighbors=2, max_iter=10, tol=0.0, **_init(X, "diag", 3))
    reference = _fit(X, CHUNK_LAYOUTS["even"], **params)
    other = _fit(X, CHUNK_LAYOUTS[layout], **params)
    np.testing.assert_allclose(other.lower_bounds_, reference.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(other.means_, reference.means_, rtol=1e-9)
    np.testing.assert_allclose(other.covariances_, reference.covariances_, rtol=1e-8)
    np.testing.assert_array_equal(other.n_evaluations_, reference.n_evaluations_)


def test_threaded_scheduler_gives_the_synchronous_result(many_blobs):
    params = dict(n_components=N_BLOBS, covariance_type="full", algorithm="truncated",
                  n_active=2, n_neighbors=3, max_iter=6, tol=0.0,
                  **_init(many_blobs, "full", N_BLOBS))
    synchronous = _fit(many_blobs, (100,) * 8, **params)
    with dask.config.set(scheduler="threads"):
        threaded = _fit(many_blobs, (100,) * 8, **params)
    np.testing.assert_allclose(threaded.lower_bounds_, synchronous.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(threaded.means_, synchronous.means_, rtol=1e-12)
    np.testing.assert_array_equal(threaded.n_evaluations_, synchronous.n_evaluations_)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_component_id_width_does_not_change_the_result(many_blobs, covariance_type,
                                                       monkeypatch):
    """``K(n)`` as uint16 (up to 65,536 components) and as int32 (beyond) give the
    same fit and the same truncated predictions."""
    from daskmix.mixture.kernels import truncated_block

    params = dict(n_components=N_BLOBS, covariance_type=covariance_type,
                  algorithm="truncated", n_active=2, n_neighbors=3, max_iter=4, tol=0.0,
                  init_params="k-means++")
    assert truncated_block.active_dtype(N_BLOBS) == np.uint16
    small = _fit(many_blobs, (400, 400), **params)
    monkeypatch.setattr(truncated_block, "SMALL_IDS_MAX_COMPONENTS", 1)
    assert truncated_block.active_dtype(N_BLOBS) == np.int32
    wide = _fit(many_blobs, (400, 400), **params)
    np.testing.assert_array_equal(wide.lower_bounds_, small.lower_bounds_)
    np.testing.assert_array_equal(wide.means_, small.means_)
    np.testing.assert_array_equal(wide.n_evaluations_, small.n_evaluations_)
    np.testing.assert_array_equal(wide.predict(many_blobs), small.predict(many_blobs))


def test_random_state_sets_the_random_candidates(many_blobs):
    params = dict(n_components=N_BLOBS, covariance_type="diag", algorithm="truncated",
                  n_active=1, n_neighbors=2, max_iter=3, tol=0.0,
                  **_init(many_blobs, "diag", N_BLOBS))
    X = as_dask(many_blobs, (400, 400))
    a = GaussianMixture(random_state=1, **params).fit(X)
    b = GaussianMixture(random_state=1, **params).fit(X)
    c = GaussianMixture(random_state=2, **params).fit(X)
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.lower_bounds_ != c.lower_bounds_


def test_dead_component_is_reseeded(many_blobs):
    init = _init(many_blobs, "diag", N_BLOBS)
    init["means_init"] = init["means_init"].copy()
    init["means_init"][0] = 1e4  # no point ever prefers it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm = _fit(many_blobs, (400, 400), n_components=N_BLOBS, covariance_type="diag",
                  algorithm="truncated", n_active=2, n_neighbors=3, max_iter=30, tol=0.0,
                  **init)
    assert any(issubclass(w.category, DegenerateComponentWarning) for w in caught)
    # re-seeded inside the data, not left as a hole
    assert np.all(gm.weights_ > 1e-3)
    assert np.all(np.abs(gm.means_ - many_blobs.mean(axis=0)) < 100)


def test_n_active_larger_than_n_components_is_an_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="n_active=4 is larger than n_components=3"):
        GaussianMixture(3, algorithm="truncated", n_active=4).fit(X)


def test_unsupported_covariance_type_is_an_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="algorithm='truncated' supports covariance_type"):
        GaussianMixture(3, covariance_type="tied", algorithm="truncated", n_active=2).fit(X)


def test_failed_fit_leaves_the_estimator_unchanged(blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="diag", algorithm="truncated", n_active=2,
                         random_state=0, max_iter=3).fit(X)
    means = gm.means_.copy()
    bad = X.copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.fit(as_dask(bad, (150,) * 4))
    np.testing.assert_array_equal(gm.means_, means)


def test_exact_em_fit_drops_the_evaluation_counts(blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="diag", algorithm="truncated", n_active=2,
                         random_state=0, max_iter=3).fit(X)
    assert hasattr(gm, "n_evaluations_")
    gm.set_params(algorithm="em").fit(X)
    assert not hasattr(gm, "n_evaluations_")


def test_distributed_gives_the_synchronous_result(many_blobs):
    from distributed import Client, LocalCluster

    params = dict(n_components=N_BLOBS, covariance_type="diag", algorithm="truncated",
                  n_active=2, n_neighbors=3, max_iter=4, tol=0.0,
                  **_init(many_blobs, "diag", N_BLOBS))
    synchronous = _fit(many_blobs, (200,) * 4, **params)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        distributed = _fit(many_blobs, (200,) * 4, **params)
    np.testing.assert_allclose(distributed.lower_bounds_, synchronous.lower_bounds_,
                               rtol=1e-12)
    np.testing.assert_allclose(distributed.means_, synchronous.means_, rtol=1e-12)


def test_graph_layers_are_named(many_blobs, monkeypatch):
    gm = GaussianMixture(N_BLOBS, covariance_type="diag", algorithm="truncated", n_active=2,
                         n_neighbors=3, max_iter=3, tol=0.0, random_state=0,
                         **_init(many_blobs, "diag", N_BLOBS))
    X = as_dask(many_blobs, (400, 400))
    layers = []
    original = dask.persist

    def spy(*collections, **kwargs):
        for c in collections:
            layers.extend(str(name) for name in c.__dask_graph__().layers)
        return original(*collections, **kwargs)

    monkeypatch.setattr(dask, "persist", spy)  # daskmix._dask.graph imports dask when it runs
    gm.fit(X)
    joined = " ".join(layers)
    for name in ("daskmix-truncated-estep", "daskmix-truncated-estep-state",
                 "daskmix-truncated-estep-stats", "daskmix-truncated-init-active"):
        assert name in joined
    # one pass is one persist and one (trivial) compute; <= 5 warm-up passes + 3 iterations
    passes = len([n for n in layers if n.startswith("daskmix-truncated-estep-stats-aggregate")])
    assert 3 < passes <= 8


def test_sample_weights_with_all_components_active_are_exact_em(blobs):
    X, _ = blobs
    weights = np.random.RandomState(0).uniform(0.0, 3.0, size=len(X))
    common = dict(n_components=3, covariance_type="full", max_iter=5, tol=0.0,
                  **_init(X, "full", 3))
    exact = GaussianMixture(random_state=0, **common).fit(X, sample_weight=weights)
    truncated = GaussianMixture(random_state=0, algorithm="truncated", n_active=3,
                                **common).fit(X, sample_weight=weights)
    np.testing.assert_allclose(truncated.lower_bounds_, exact.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(truncated.means_, exact.means_, rtol=1e-8)


def test_float32_data_stay_float32(many_blobs):
    X = many_blobs.astype(np.float32)
    gm = GaussianMixture(N_BLOBS, covariance_type="spherical", algorithm="truncated",
                         n_active=2, n_neighbors=3, max_iter=10, tol=0.0, random_state=0,
                         **_init(many_blobs, "spherical", N_BLOBS)).fit(X)
    assert gm.means_.dtype == np.float32
    assert np.all(np.diff(gm.lower_bounds_) >= -1e-4 * np.abs(gm.lower_bounds_[1:]))
    assert gm.lower_bound_ <= gm.set_params(inference="exact").score(X) + 1e-4
