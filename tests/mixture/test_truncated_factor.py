"""covariance_type="factor" with algorithm="truncated" (v-MFA), against dense references."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning

import daskmix.mixture.algorithms.truncated as truncated
from daskmix import GaussianMixture
from daskmix.mixture._params import GaussianParams, estep_params
from daskmix.mixture.algorithms.truncated import initial_neighbours
from daskmix.mixture.covariance.factor import FactorCovariance
from daskmix.mixture.kernels import truncated as kernels
from daskmix.mixture.kernels.pairs import WoodburyPairs, get_pair_evaluator
from daskmix.mixture.kernels.suffstats import StatsLayout
from daskmix.mixture.kernels.truncated_block import (
    PassInputs,
    random_candidates,
    truncated_block,
)
from tests.conftest import CHUNK_LAYOUTS, N_SAMPLES, as_dask
from tests.mixture.test_factor import dense_of, reference_statistics
from tests.mixture.test_truncated_kernels import _space

N_FEATURES, N_FACTORS, N_COMPONENTS = 6, 2, 8

# fits with tol=0 run to max_iter on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def mixture(n_components=N_COMPONENTS, seed=0):
    """Weights, well-separated means far from the origin, loadings and noise variances."""
    rng = np.random.RandomState(seed)
    weights = rng.dirichlet(np.ones(n_components) * 5)
    means = rng.randn(n_components, N_FEATURES) * 10 + 50
    loadings = rng.randn(n_components, N_FEATURES, N_FACTORS)
    noise = rng.uniform(0.2, 1.0, size=(n_components, N_FEATURES))
    return weights, means, loadings, noise


def sample(n_samples, seed=0, n_components=N_COMPONENTS):
    """Rows drawn from :func:`mixture` (the generative model itself)."""
    weights, means, loadings, noise = mixture(n_components, seed)
    rng = np.random.RandomState(seed + 100)
    labels = rng.choice(len(weights), size=n_samples, p=weights)
    z = rng.randn(n_samples, N_FACTORS)
    return (means[labels] + np.einsum("nh,ndh->nd", z, loadings[labels])
            + rng.randn(n_samples, N_FEATURES) * np.sqrt(noise[labels]))


@pytest.fixture(scope="module")
def X():
    """N_SAMPLES rows of an 8-component factor mixture in 6-D (fits the chunk layouts)."""
    return sample(N_SAMPLES, seed=1)


def packed(weights, means, loadings, noise):
    covariance = FactorCovariance(N_FACTORS)
    cov = np.concatenate([loadings, noise[:, :, None]], axis=2)
    return covariance, GaussianParams(weights, means, cov, covariance.precision_cholesky(cov))


def dense_log_joints(X, weights, means, loadings, noise):
    """``log pi_k + log N(x | mu_k, Lambda_k Lambda_k' + Psi_k)`` by scipy, (n, K)."""
    dense = dense_of(loadings, noise)
    return np.stack([np.log(w) + multivariate_normal(m, c).logpdf(X)
                     for w, m, c in zip(weights, means, dense)], axis=1)


def start(X, n_components=N_COMPONENTS, seed=0):
    """Shared initial values: random rows as means, the data's precision for every component."""
    rng = np.random.RandomState(seed)
    precision = np.linalg.inv(np.cov(X.T))
    return {"weights_init": np.full(n_components, 1.0 / n_components),
            "means_init": X[rng.choice(len(X), n_components, replace=False)],
            "precisions_init": np.tile(precision, (n_components, 1, 1))}


def fit(X, chunks=(150,) * 4, sample_weight=None, **settings):
    params = {"n_components": N_COMPONENTS, "covariance_type": "factor",
              "n_factors": N_FACTORS, "random_state": 0, "tol": 0.0}
    params.update(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**params).fit(as_dask(X, chunks), sample_weight=sample_weight)


def _search_space(rng, n_rows, n_components, n_active, n_neighbors):
    """Random search spaces and their sizes (the kernel tests' ``_space``)."""
    *_, space, counts, _ = _space(rng, n_rows, n_components, n_active, n_neighbors)
    return space, counts


# ---- kernels ---------------------------------------------------------------------
def test_factor_is_registered_for_truncated_em():
    assert get_pair_evaluator("factor") is WoodburyPairs


def test_group_pairs_lists_every_pair_once_under_its_component():
    rng = np.random.default_rng(0)
    space, counts = _search_space(rng, 200, 30, 3, 4)
    rows, slots, components, starts = kernels.group_pairs(space, counts, 30)
    assert len(rows) == counts.sum()
    assert len(set(components.tolist())) == len(components)  # one group per component
    seen = set()
    for g, c in enumerate(components):
        for i, s in zip(rows[starts[g]:starts[g + 1]], slots[starts[g]:starts[g + 1]]):
            assert s < counts[i] and space[i, s] == c
            seen.add((int(i), int(s)))
    assert seen == {(i, s) for i in range(len(counts)) for s in range(counts[i])}


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_pair_log_joints_equal_the_dense_log_density(dtype, rtol):
    rng = np.random.default_rng(1)
    n_components = 12
    truth = mixture(n_components, seed=2)
    covariance, params = packed(*truth)
    Y = sample(300, seed=3, n_components=n_components)
    kp = estep_params(covariance, params, dtype)
    space, counts = _search_space(rng, len(Y), n_components, 3, 4)
    out = np.full(space.shape, np.nan)
    WoodburyPairs.log_joints(WoodburyPairs.design(covariance, Y.astype(dtype), kp.shift),
                             WoodburyPairs.tables(covariance, kp), space, counts, out)
    dense = dense_log_joints(Y, *truth)
    for i in range(len(Y)):
        ids = space[i, : counts[i]]
        assert_allclose(out[i, : counts[i]], dense[i, ids], rtol=rtol)


def test_sparse_moments_are_the_expected_statistics_of_the_truncated_posterior():
    rng = np.random.default_rng(4)
    truth = mixture(seed=5)
    _, means, loadings, noise = truth
    covariance, params = packed(*truth)
    Y = sample(400, seed=6)
    kp = estep_params(covariance, params, np.float64)
    active = np.array([rng.permutation(N_COMPONENTS)[:3] for _ in range(len(Y))],
                      dtype=np.int32)
    resp = rng.random(active.shape)
    acc = WoodburyPairs.new_moments(covariance, N_COMPONENTS, N_FEATURES)
    design = WoodburyPairs.design(covariance, Y, kp.shift)
    WoodburyPairs.add_moments(design, WoodburyPairs.tables(covariance, kp), active, resp, acc)
    nk, sy, s2 = WoodburyPairs.finish_moments(covariance, acc, N_FEATURES)
    dense = np.zeros((len(Y), N_COMPONENTS))
    np.put_along_axis(dense, active, resp, axis=1)
    assert_allclose(nk, dense.sum(axis=0), rtol=1e-12)
    assert_allclose(sy, dense.T @ (Y - kp.shift), rtol=1e-10)
    for k, (B, u, A) in enumerate(reference_statistics(Y, dense, means, loadings, noise)):
        assert_allclose(s2[k, :N_FEATURES, : N_FACTORS + 1], B, rtol=1e-9, atol=1e-9)
        assert_allclose(s2[k, :N_FEATURES, N_FACTORS + 1], u, rtol=1e-10)
        assert_allclose(s2[k, N_FEATURES:, : N_FACTORS + 1], A, rtol=1e-9, atol=1e-9)


def test_block_is_the_brute_force_truncated_e_step(monkeypatch):
    """K(n), free energy, evaluation count and moments of one block, by brute force."""
    import daskmix.mixture.kernels.truncated_block as block_module

    monkeypatch.setattr(block_module, "TILE_ROWS", 64)  # several tiles, buffers reused
    rng = np.random.default_rng(7)
    truth = mixture(seed=8)
    _, means, loadings, noise = truth
    covariance, params = packed(*truth)
    Y = sample(300, seed=9)
    kp = estep_params(covariance, params, np.float64)
    n_active, row_start = 2, 1000
    active = np.array([rng.permutation(N_COMPONENTS)[:n_active] for _ in range(len(Y))],
                      dtype=np.int32)
    layout = StatsLayout(N_COMPONENTS, N_FEATURES,
                         covariance.second_moment_shape(N_COMPONENTS, N_FEATURES))
    inputs = PassInputs(
        covariance=covariance, evaluator=WoodburyPairs,
        tables=WoodburyPairs.tables(covariance, kp), shift=kp.shift,
        neighbours=initial_neighbours(means, 3), random_key=11, n_random=1, layout=layout,
        with_moments=True, check_finite=False,
    )
    new_active, stats = truncated_block(Y, None, active, row_start, inputs)

    dense = dense_log_joints(Y, *truth)
    randoms = random_candidates(11, row_start, len(Y), 1, N_COMPONENTS)
    resp = np.zeros_like(dense)
    energy = evaluations = 0
    for i in range(len(Y)):
        space = {int(g) for c in active[i] for g in inputs.neighbours[c] if g >= 0}
        space |= set(randoms[i].tolist())
        evaluations += len(space)
        ids = np.array(sorted(space))
        best = ids[np.argsort(-dense[i, ids], kind="stable")[:n_active]]
        assert set(new_active[i].tolist()) == set(best.tolist())
        energy += logsumexp(dense[i, best])
        resp[i, best] = np.exp(dense[i, best] - logsumexp(dense[i, best]))
    assert stats.evaluations == evaluations
    got = layout.unpack(stats.vector)
    assert_allclose(got["loglik"], energy, rtol=1e-10)
    assert_allclose(got["nk"], resp.sum(axis=0), rtol=1e-9, atol=1e-12)
    for k, (B, u, A) in enumerate(reference_statistics(Y, resp, means, loadings, noise)):
        assert_allclose(got["s2"][k, :N_FEATURES, : N_FACTORS + 1], B, rtol=1e-8, atol=1e-8)
        assert_allclose(got["s2"][k, :N_FEATURES, N_FACTORS + 1], u, rtol=1e-8, atol=1e-8)
        assert_allclose(got["s2"][k, N_FEATURES:, : N_FACTORS + 1], A, rtol=1e-8, atol=1e-8)


# ---- the estimator -----------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_all_components_active_is_exact_em(X, weighted):
    weights = np.random.RandomState(0).uniform(0.0, 3.0, size=len(X)) if weighted else None
    common = dict(max_iter=6, **start(X))
    exact = fit(X, sample_weight=weights, algorithm="em", **common)
    trunc = fit(X, sample_weight=weights, algorithm="truncated", n_active=N_COMPONENTS,
                n_neighbors=3, **common)
    assert_allclose(trunc.lower_bounds_, exact.lower_bounds_, rtol=1e-10)
    assert_allclose(trunc.weights_, exact.weights_, rtol=1e-8)
    assert_allclose(trunc.means_, exact.means_, rtol=1e-8)
    assert_allclose(trunc.loadings_, exact.loadings_, rtol=1e-6, atol=1e-8)
    assert_allclose(trunc.noise_variance_, exact.noise_variance_, rtol=1e-7)
    assert_allclose(trunc.covariances_, exact.covariances_, rtol=1e-7, atol=1e-8)
    assert trunc.n_iter_ == exact.n_iter_ == 6
    assert trunc.n_evaluations_.tolist() == [len(X) * N_COMPONENTS] * 6


def test_free_energy_never_decreases(X):
    gm = fit(X, algorithm="truncated", n_active=2, n_neighbors=3, max_iter=15, **start(X))
    bounds = np.asarray(gm.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))
    # a lower bound of the log-likelihood of the parameters it was taken at, and
    # the M-step then raises the log-likelihood further
    assert gm.lower_bound_ <= gm.set_params(inference="exact").score(X) + 1e-10
    # and truncation did take place
    assert np.all(gm.n_evaluations_ < len(X) * N_COMPONENTS)


@pytest.mark.parametrize("layout", sorted(set(CHUNK_LAYOUTS) - {"even"}))
def test_chunking_does_not_change_the_result(X, layout):
    settings = dict(algorithm="truncated", n_active=2, n_neighbors=3, max_iter=5, **start(X))
    reference = fit(X, CHUNK_LAYOUTS["even"], **settings)
    other = fit(X, CHUNK_LAYOUTS[layout], **settings)
    assert_allclose(other.lower_bounds_, reference.lower_bounds_, rtol=1e-10)
    assert_allclose(other.means_, reference.means_, rtol=1e-9)
    assert_allclose(other.loadings_, reference.loadings_, rtol=1e-7, atol=1e-9)
    assert_allclose(other.noise_variance_, reference.noise_variance_, rtol=1e-8)
    assert other.n_evaluations_.tolist() == reference.n_evaluations_.tolist()


def test_evaluation_counts_are_the_brute_force_search_space_sizes(X, monkeypatch):
    original = truncated.truncated_block
    brute = {}

    def counting(X_block, sample_weight, active, row_start, inputs):
        if inputs.with_moments:  # an EM iteration, not a warm-up pass
            randoms = random_candidates(inputs.random_key, row_start, len(X_block),
                                        inputs.n_random, N_COMPONENTS)
            count = sum(
                len({int(g) for c in active[i] for g in inputs.neighbours[c] if g >= 0}
                    | set(randoms[i].tolist()))
                for i in range(len(X_block))
            )
            brute[inputs.random_key] = brute.get(inputs.random_key, 0) + count
        return original(X_block, sample_weight, active, row_start, inputs)

    monkeypatch.setattr(truncated, "truncated_block", counting)
    gm = fit(X, algorithm="truncated", n_active=2, n_neighbors=3, max_iter=4, **start(X))
    assert gm.n_evaluations_.tolist() == [brute[key] for key in sorted(brute)]
    assert len(brute) == 4


def test_float32_data_stay_float32(X):
    gm = fit(X.astype(np.float32), algorithm="truncated", n_active=2, n_neighbors=3,
             max_iter=8, **start(X))
    reference = fit(X, algorithm="truncated", n_active=2, n_neighbors=3, max_iter=8,
                    **start(X))
    assert gm.means_.dtype == gm.loadings_.dtype == np.float32
    assert_allclose(gm.lower_bounds_, reference.lower_bounds_, rtol=1e-4)
