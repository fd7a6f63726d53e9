"""Initialisation and a first iteration with thousands of components.

``init_params="random_from_data"`` and ``"k-means++"`` used to crash from 512
components on (the one-hot responsibilities of the drawn points ignored the
tile offset). Every ``init_params`` is checked here at 512, 1024 and 4096
components ("kmeans" at 512 and 1024) against a reference computed independently of daskmix:
scikit-learn's own initialisation, the rows scikit-learn's draw picks, the
statistics of a dense hard partition, or the distribution of random
responsibilities.

The initial parameters are those of a ``max_iter=0`` fit, made once per case
(module-scoped fixtures). The first-iteration tests continue such a fit with
``warm_start=True`` and ``max_iter=1`` (exact or truncated EM), so that the
costly initialisation (k-means at 4096 components) runs once;
``test_warm_start_from_the_initial_parameters_is_a_fresh_first_iteration``
checks that this is the fit a fresh ``max_iter=1`` makes.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances_argmin, pairwise_distances_argmin_min
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

from daskmix import GaussianMixture
from daskmix.exceptions import DegenerateComponentWarning
from tests.conftest import as_dask

#: The sizes that used to crash (more than one tile of 256 drawn points) and a large one.
SIZES = [512, 1024, 4096]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]
N_FEATURES = 4
SEED = 0
REG_COVAR = 1e-6  # GaussianMixture's default


def large_k_data(n_components, dtype=np.float64):
    """``2 * n_components`` rows of 16 blobs in 4-D, offset from the origin."""
    X, _ = make_blobs(2 * n_components, n_features=N_FEATURES, centers=16,
                      random_state=n_components)
    return (X + 20.0).astype(dtype)


def even_chunks(n_samples):
    """Four row chunks of nearly equal size."""
    size = -(-n_samples // 4)
    return (size,) * 3 + (n_samples - 3 * size,)


def ragged_chunks(n_samples):
    """A one-row chunk, an empty chunk and two unequal ones."""
    return (1, n_samples // 3, 0, n_samples - 1 - n_samples // 3)


def initial_fit(init_params, n_components, covariance_type, X, row_chunks):
    """A ``max_iter=0`` fit: its attributes are the initial parameters."""
    extra = {"n_factors": 2} if covariance_type == "factor" else {}
    return GaussianMixture(
        n_components, covariance_type=covariance_type, init_params=init_params,
        max_iter=0, random_state=SEED, **extra,
    ).fit(as_dask(X, row_chunks))


# ---- cases: (init_params, n_components, covariance_type) --------------------------------
#: Every init at every size, diagonal covariances (the largest first, to start
#: the slowest tests first), but "kmeans" at 4096: its reference (the statistics
#: of the partition of its means) is the one checked at 512 and 1024, the tiles
#: of drawn rows that used to crash are those of the other inits, and its set-up
#: alone (up to five k-means runs of 4096 centres on 8,192 rows) took 21 s, the
#: slowest of the suite. The truncated search at 4096 still runs from the other three.
DIAG_CASES = [(init, k, "diag") for k in reversed(SIZES) for init in INIT_PARAMS
              if (init, k) != ("kmeans", 4096)]
#: The other covariance types at 512 components (4 features), for the inits
#: whose initial covariances have a closed-form reference.
OTHER_REFERENCE_CASES = [(init, 512, covariance_type)
                         for init in ("kmeans", "k-means++", "random_from_data")
                         for covariance_type in ("spherical", "full", "tied")]
#: The remaining (init, type) pairs at 512 components.
OTHER_CASES = ([("random", 512, covariance_type)
                for covariance_type in ("spherical", "full", "tied")]
               + [(init, 512, "factor") for init in INIT_PARAMS])
# pytest groups the tests of a module-scoped parameter by its index in each
# test's list, so the lists of ``start`` are prefixes of ALL_CASES: the tests
# of one case then run one after the other (on one pytest-xdist worker).
# Tests of other cases ask ``initial_fits`` instead.
REFERENCE_CASES = DIAG_CASES + OTHER_REFERENCE_CASES
ALL_CASES = REFERENCE_CASES + OTHER_CASES


def case_id(case):
    init_params, n_components, covariance_type = case
    return f"{init_params}-{n_components}-{covariance_type}"


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """One BLAS thread for the module's tiny matrices.

    With two pytest workers on two cores, two OpenBLAS threads each made
    scikit-learn's 512 full initial covariances take 2.5 s instead of 0.04 s.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def initial_fits():
    """``initial_fits(case)``: data and the ``max_iter=0`` fit of ``case``, made once."""
    fits = {}

    def get(case):
        if case not in fits:
            init_params, n_components, covariance_type = case
            X = large_k_data(n_components)
            fits[case] = X, initial_fit(init_params, n_components, covariance_type, X,
                                        even_chunks(len(X)))
        return fits[case]

    return get


@pytest.fixture(scope="module")
def start(request, initial_fits):
    """Data and the ``max_iter=0`` fit of the case ``request.param``."""
    return initial_fits(request.param)


def with_start(selected):
    """Parametrize the ``start`` fixture over ``selected``, a prefix of ALL_CASES."""
    assert selected == ALL_CASES[: len(selected)]
    return pytest.mark.parametrize("start", selected, indirect=True, ids=case_id)


def with_case(selected):
    """Parametrize ``case`` over ``selected`` (for ``initial_fits``)."""
    return pytest.mark.parametrize("case", selected, ids=case_id)


# ---- references -------------------------------------------------------------------------
def sklearn_initial_parameters(X, n_components, covariance_type, init_params):
    """scikit-learn's initial parameters on ``X`` for ``random_state=SEED``.

    ``GaussianMixture._initialize_parameters(X, random_state)`` is private:
    it is what scikit-learn's ``fit`` calls first, with
    ``check_random_state(random_state)``, and it sets ``weights_``,
    ``means_``, ``covariances_`` and ``precisions_cholesky_``.
    """
    sk = SkGaussianMixture(n_components, covariance_type=covariance_type,
                           init_params=init_params, random_state=SEED)
    sk._initialize_parameters(X, np.random.RandomState(SEED))
    return sk


def _full_scatter(diff, labels, n_components):
    scatter = np.zeros((n_components, N_FEATURES, N_FEATURES))
    np.add.at(scatter, labels, diff[:, :, None] * diff[:, None, :])
    return scatter


def _diag_scatter(diff, labels, n_components):
    scatter = np.zeros((n_components, N_FEATURES))
    np.add.at(scatter, labels, diff**2)
    return scatter


#: Covariances of a hard partition from the residuals ``diff`` of its rows,
#: as scikit-learn's ``_estimate_gaussian_parameters`` gives them for one-hot
#: responsibilities (without its ``10 * eps`` on the counts).
PARTITION_COVARIANCES = {
    "full": lambda diff, labels, counts: (
        _full_scatter(diff, labels, len(counts)) / counts[:, None, None]
        + REG_COVAR * np.eye(N_FEATURES)),
    "tied": lambda diff, labels, counts: (
        diff.T @ diff / len(diff) + REG_COVAR * np.eye(N_FEATURES)),
    "diag": lambda diff, labels, counts: (
        _diag_scatter(diff, labels, len(counts)) / counts[:, None] + REG_COVAR),
    "spherical": lambda diff, labels, counts: (
        _diag_scatter(diff, labels, len(counts)).mean(axis=1) / counts + REG_COVAR),
}


def partition_parameters(X, labels, n_components, covariance_type):
    """Weights, means and covariances of the hard partition ``labels`` of ``X``.

    Computed with ``np.add.at``, never a dense responsibility matrix; the
    weights are the counts divided by ``n_samples``.
    """
    counts = np.bincount(labels, minlength=n_components).astype(np.float64)
    means = np.zeros((n_components, N_FEATURES))
    np.add.at(means, labels, X)
    means /= counts[:, None]
    covariances = PARTITION_COVARIANCES[covariance_type](X - means[labels], labels, counts)
    return counts / len(X), means, covariances


#: Initial covariances of components of one point each: reg_covar alone.
ONE_POINT_COVARIANCES = {
    "full": lambda k: np.broadcast_to(REG_COVAR * np.eye(N_FEATURES),
                                      (k, N_FEATURES, N_FEATURES)),
    "tied": lambda k: REG_COVAR * np.eye(N_FEATURES),
    "diag": lambda k: np.full((k, N_FEATURES), REG_COVAR),
    "spherical": lambda k: np.full(k, REG_COVAR),
}


def kmeans_cost(X, centres):
    """Sum of squared distances of the rows of ``X`` to their nearest centre."""
    return float(np.sum(pairwise_distances_argmin_min(X, centres)[1] ** 2))


def drawn_rows(n_samples, n_components):
    """The rows scikit-learn's ``init_params="random_from_data"`` puts components on."""
    return np.random.RandomState(SEED).choice(n_samples, n_components, replace=False)


# ---- what each init_params gives, checked against its reference ---------------------------
def check_random_from_data(X, gm):
    """Component ``k`` sits on row ``choice(n_samples, n_components, replace=False)[k]``."""
    assert_allclose(gm.means_, X[drawn_rows(len(X), gm.n_components)], rtol=1e-13)
    assert_allclose(gm.weights_, gm.weights_[0], rtol=1e-14)
    assert_allclose(gm.covariances_, ONE_POINT_COVARIANCES[gm.covariance_type](gm.n_components),
                    rtol=1e-6, atol=1e-6 * REG_COVAR)


def check_kmeans_plusplus(X, gm):
    """The means are distinct rows of ``X``, each alone in its component."""
    nearest, _ = pairwise_distances_argmin_min(gm.means_, X)
    assert np.unique(nearest).size == gm.n_components
    assert_allclose(gm.means_, X[nearest], rtol=1e-13)
    assert_allclose(gm.weights_, gm.weights_[0], rtol=1e-14)
    assert_allclose(gm.covariances_, ONE_POINT_COVARIANCES[gm.covariance_type](gm.n_components),
                    rtol=1e-6, atol=1e-6 * REG_COVAR)


def check_kmeans(X, gm):
    """Weights, means and covariances are the statistics of the rows nearest each mean.

    daskmix's k-means stage ends on a fixed point of Lloyd's iteration here
    (every row of these small data sets is a k-means|| candidate and the
    reclustering runs Lloyd to convergence), so the partition of the k-means
    centres is the partition of the means it gives.
    """
    labels = pairwise_distances_argmin(X, gm.means_)
    assert np.bincount(labels, minlength=gm.n_components).min() >= 1
    weights, means, covariances = partition_parameters(X, labels, gm.n_components,
                                                       gm.covariance_type)
    assert_allclose(gm.weights_, weights, rtol=1e-12)
    assert_allclose(gm.means_, means, rtol=1e-12)
    assert_allclose(gm.covariances_, covariances, rtol=1e-9, atol=1e-12)


def check_random(X, gm):
    """Means near the data mean, weights near ``1 / n_components``, variances near the data's.

    The responsibilities are uniforms normalised over the components, so a
    component's weight and mean deviate from ``1 / n_components`` and the
    data mean by about ``1 / sqrt(3 n_samples)`` relative (in data standard
    deviations for the means); the bounds are 8 of those.
    """
    n_components, n_samples = gm.n_components, len(X)
    spread = 1.0 / np.sqrt(3 * n_samples)
    # exact for any responsibilities summing to one per row: the mixture's
    # first two moments are the data's
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)
    assert_allclose(gm.weights_ @ gm.means_, X.mean(axis=0), rtol=1e-12)
    assert_allclose(gm.weights_ @ (gm.covariances_ - REG_COVAR + gm.means_**2),
                    np.mean(X**2, axis=0), rtol=1e-12)
    assert np.max(np.abs(n_components * gm.weights_ - 1)) < 8 * spread
    assert np.max(np.abs(gm.means_ - X.mean(axis=0)) / X.std(axis=0)) < 8 * spread
    assert_allclose(gm.covariances_, np.broadcast_to(X.var(axis=0), gm.covariances_.shape),
                    rtol=0.2)


INITIAL_REFERENCES = {
    "kmeans": check_kmeans,
    "k-means++": check_kmeans_plusplus,
    "random": check_random,
    "random_from_data": check_random_from_data,
}


@with_start(REFERENCE_CASES)
def test_initial_parameters_match_their_reference(start):
    X, gm = start
    INITIAL_REFERENCES[gm.init_params](X, gm)
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(gm.precisions_cholesky_))


# ---- direct comparisons with scikit-learn (dense, so at 512 and 1024 components) ---------
@with_case([("random_from_data", 512, "diag"), ("random_from_data", 1024, "diag"),
            ("random_from_data", 512, "spherical"), ("random_from_data", 512, "full")])
def test_random_from_data_matches_sklearn_initialisation(initial_fits, case):
    """scikit-learn's initialisation on the same data and seed.

    Not ``"tied"``: scikit-learn's tied formula sums ``x x^T`` over all rows
    although the one-hot responsibilities cover only the drawn ones (see
    ``test_sklearn_equivalence``); daskmix's is ``reg_covar * I``, checked
    above.
    """
    X, gm = initial_fits(case)
    sk = sklearn_initial_parameters(X, gm.n_components, gm.covariance_type,
                                    "random_from_data")
    assert_allclose(gm.means_, sk.means_, rtol=1e-13)
    # scikit-learn's initial weights are 1 / n_samples each (they sum to
    # n_components / n_samples); a fitted model publishes them normalised
    assert_allclose(gm.weights_ / gm.weights_.sum(), sk.weights_ / sk.weights_.sum(),
                    rtol=1e-13)
    # scikit-learn's variances are reg_covar + x**2 * (nk - 1) / nk**2 with its
    # nk = 1 + 10 * eps: about 2e-12 (2e-6 relative) above reg_covar here
    assert_allclose(gm.covariances_, sk.covariances_, rtol=1e-5, atol=1e-5 * REG_COVAR)
    assert_allclose(gm.precisions_cholesky_, sk.precisions_cholesky_, rtol=1e-5,
                    atol=1e-5 / np.sqrt(REG_COVAR))


@with_case([("k-means++", 512, "diag"), ("k-means++", 1024, "diag")])
def test_kmeans_plusplus_seeds_cost_what_sklearns_seeds_cost(initial_fits, case):
    """The k-means cost of the seeds is that of scikit-learn's ``kmeans_plusplus``.

    Greedy k-means++ seeds of these blobs cost within a few percent of each
    other; ``n_components`` uniformly drawn rows cost about 1.8 times as much.
    """
    X, gm = initial_fits(case)
    reference, _ = kmeans_plusplus(X, gm.n_components, random_state=SEED)
    ratio = kmeans_cost(X, gm.means_) / kmeans_cost(X, reference)
    assert 0.8 < ratio < 1.2


@with_case([("kmeans", 512, "diag")])
def test_kmeans_init_partition_is_as_good_as_sklearns_kmeans(initial_fits, case):
    """The partition costs what scikit-learn's ``KMeans(n_init=1)`` does (its "kmeans" init)."""
    X, gm = initial_fits(case)
    reference = KMeans(gm.n_components, n_init=1, random_state=SEED).fit(X)
    assert kmeans_cost(X, gm.means_) < 1.05 * reference.inertia_


@with_case([("random", 512, "diag")])
def test_random_init_spreads_as_sklearns(initial_fits, case):
    """The scatter of the initial weights, means and variances is scikit-learn's.

    Both draw uniform responsibilities (from different generators), so their
    standard deviations over the components agree to a few percent.
    """
    X, gm = initial_fits(case)
    sk = sklearn_initial_parameters(X, gm.n_components, "diag", "random")
    mean, std = X.mean(axis=0), X.std(axis=0)

    def scatter(model):
        return np.array([
            np.std(model.weights_ / model.weights_.mean()),
            np.std((model.means_ - mean) / std),
            np.std(model.covariances_ / std**2),
        ])

    assert_allclose(scatter(gm), scatter(sk), rtol=0.2)


# ---- drawn rows: chunking and dtype ----------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_drawn_rows_do_not_depend_on_chunking(init_params, dtype):
    n_components = 1024
    X = large_k_data(n_components, dtype)
    even = initial_fit(init_params, n_components, "diag", X, even_chunks(len(X)))
    ragged = initial_fit(init_params, n_components, "diag", X, ragged_chunks(len(X)))
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(even, name).dtype == dtype, name
        assert_array_equal(getattr(ragged, name), getattr(even, name), err_msg=name)
    nearest, _ = pairwise_distances_argmin_min(even.means_, X)
    assert np.unique(nearest).size == n_components
    # each mean is its row up to the 10 * eps scikit-learn adds to every count
    assert_allclose(even.means_, X[nearest], rtol=4 * 10 * np.finfo(dtype).eps)


# ---- the initial model is a mixture -----------------------------------------------------
@with_case([("random_from_data", 512, "diag"), ("k-means++", 512, "diag")])
def test_initial_model_weights_sum_to_one(initial_fits, case):
    """A ``max_iter=0`` fit publishes a mixture, not scikit-learn's initial weights.

    Those are 1 / n_samples per component for one point per component; they
    sum to n_components / n_samples, and published as such, ``sample()``
    drew the missing mass from the last component.
    """
    _, gm = initial_fits(case)
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)
    _, labels = gm.sample(20 * gm.n_components)  # seeded by random_state
    # 20 draws per component on average: none gets many more
    assert np.bincount(labels, minlength=gm.n_components).max() < 60


# ---- one iteration from every initialisation --------------------------------------------
#: Shape of ``covariances_`` (and ``precisions_cholesky_``) with ``k`` components.
COVARIANCE_SHAPES = {
    "spherical": lambda k: (k,),
    "diag": lambda k: (k, N_FEATURES),
    "full": lambda k: (k, N_FEATURES, N_FEATURES),
    "tied": lambda k: (N_FEATURES, N_FEATURES),
    "factor": lambda k: (k, N_FEATURES, N_FEATURES),
}


def one_iteration(start, algorithm):
    """The ``max_iter=0`` fit of ``start`` continued by one iteration of ``algorithm``.

    Returns the data, the fitted model and the categories of the warnings
    the fit raised (all recorded, so none passes unnoticed).
    """
    X, initial = start
    gm = copy.deepcopy(initial).set_params(warm_start=True, max_iter=1, algorithm=algorithm)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gm.fit(as_dask(X, even_chunks(len(X))))
    return X, gm, {w.category for w in caught}


def assert_one_iteration_fit(gm):
    n_components = gm.n_components
    assert gm.n_iter_ == 1 and len(gm.lower_bounds_) == 1
    assert np.isfinite(gm.lower_bound_)
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)
    assert np.all(gm.weights_ > 0)
    assert gm.means_.shape == (n_components, N_FEATURES)
    assert gm.covariances_.shape == COVARIANCE_SHAPES[gm.covariance_type](n_components)
    assert gm.precisions_cholesky_.shape == gm.covariances_.shape
    for name in ("means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name


@with_start(ALL_CASES)
def test_one_em_iteration_from_every_init(start):
    _, gm, warned = one_iteration(start, "em")
    assert warned == {ConvergenceWarning}
    assert_one_iteration_fit(gm)
    if gm.covariance_type == "factor":
        assert gm.loadings_.shape == (gm.n_components, N_FEATURES, 2)
        assert np.all(gm.noise_variance_ > 0)


@with_start(DIAG_CASES)
def test_one_truncated_iteration_from_every_init(start):
    X, gm, warned = one_iteration(start, "truncated")
    # From "random" every component is near the data mean, so the n_active
    # best components of every point are the same few: the others get no
    # mass and are re-seeded (by splitting), with a warning. At 4096
    # components on 8192 rows (2 rows per component, 256 components per
    # blob) the points' first K(n) come from an approximate tree search
    # (O(log K) per point, not the O(K) exact one), and a few components
    # that no point ranks among its n_active best are re-seeded too.
    reseeding_allowed = gm.init_params == "random" or gm.n_components >= 4096
    allowed = {DegenerateComponentWarning} if reseeding_allowed else set()
    assert warned - allowed == {ConvergenceWarning}
    assert_one_iteration_fit(gm)
    # each point evaluates at most n_active * n_neighbors + 1 components, not all
    assert gm.n_evaluations_.shape == (1,)
    assert 0 < gm.n_evaluations_[0] <= len(X) * (gm.n_active * gm.n_neighbors + 1)


@with_case([(init, 512, "diag") for init in INIT_PARAMS])
def test_warm_start_from_the_initial_parameters_is_a_fresh_first_iteration(initial_fits, case):
    """What the first-iteration tests above fit is what a fresh ``max_iter=1`` fit gives."""
    X, initial = initial_fits(case)
    _, warm, _ = one_iteration(initial_fits(case), "em")
    fresh = copy.deepcopy(initial).set_params(max_iter=1)
    with pytest.warns(ConvergenceWarning):
        fresh.fit(as_dask(X, even_chunks(len(X))))
    # The warm fit starts from normalised weights (a constant shift of the
    # log-responsibilities): components left with one point have variances
    # reg_covar + O(1e-14) of rounding, so their precisions agree to ~1e-8.
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_allclose(getattr(warm, name), getattr(fresh, name), rtol=1e-7, atol=1e-12,
                        err_msg=name)
