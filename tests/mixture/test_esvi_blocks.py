"""The NumPy maths of ESVI (block-coordinate variational inference), without a cluster.

References: a dense coordinate-ascent VI written here from the formulas
(Bishop, PRML, section 10.2, in scikit-learn's parametrisation), and
batch VI (``BayesianGaussianMixture(algorithm="em")``) from the same start.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import digamma
from sklearn.datasets import make_blobs

from daskmix import BayesianGaussianMixture
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture.variational import WEIGHT_PRIORS, Priors, VariationalModel, get_wishart
from daskmix.mixture.variational import blocks as B

EPS = 10 * np.finfo(np.float64).eps


def _data(n=400, seed=0):
    X, _ = make_blobs(n, n_features=3, centers=4, cluster_std=1.5, random_state=seed)
    return X


def _model(X, covariance_type, n_components, reg_covar=1e-6):
    wishart = get_wishart(covariance_type)
    cov = np.cov(X.T)
    prior_cov = {"full": cov, "diag": np.diag(cov).copy(),
                 "spherical": float(np.mean(np.diag(cov)))}[covariance_type]
    priors = Priors(1.0 / n_components, 1.0, X.mean(axis=0), float(X.shape[1]), prior_cov)
    return VariationalModel(priors, get_covariance_type(covariance_type), wishart,
                            WEIGHT_PRIORS["dirichlet_distribution"], reg_covar)


def _layout(model, X, n_components, n_active, shift=None):
    shift = X.mean(axis=0) if shift is None else shift
    total = n_components * model.priors.weight_concentration + len(X) + n_components * EPS
    return B.BlockLayout(model, shift, total, EPS, n_active, n_components)


def _start(X, n_components, seed=0):
    rng = np.random.RandomState(seed)
    means = X[rng.choice(len(X), n_components, replace=False)]
    return {"means": means, "log_weights": np.full(n_components, -np.log(n_components)),
            "variances": np.full(n_components, X.var(axis=0).mean() / n_components)}


# ---- the dense reference, from the formulas ------------------------------------
def _dense_m_step(X, resp, model):
    """The posterior of full-covariance VI given dense responsibilities (Bishop 10.58-10.63)."""
    p = model.priors
    nk = resp.sum(axis=0) + EPS
    xk = resp.T @ X / nk[:, None]
    d = X.shape[1]
    sk = np.empty((len(nk), d, d))
    for k in range(len(nk)):
        diff = X - xk[k]
        sk[k] = (resp[:, k, None] * diff).T @ diff / nk[k] + model.reg_covar * np.eye(d)
    alpha = p.weight_concentration + nk
    beta = p.mean_precision + nk
    means = (p.mean_precision * p.mean + nk[:, None] * xk) / beta[:, None]
    nu = p.degrees_of_freedom + nk
    dev = xk - p.mean
    scale = (p.covariance + nk[:, None, None] * sk
             + (nk * p.mean_precision / beta)[:, None, None] * dev[:, :, None] * dev[:, None, :])
    return alpha, beta, means, nu, scale / nu[:, None, None]


def _dense_e_step(X, alpha, beta, means, nu, covariances):
    """Responsibilities of full-covariance VI (Bishop 10.64-10.67)."""
    n, d = X.shape
    log_rho = np.empty((n, len(alpha)))
    for k in range(len(alpha)):
        precision = np.linalg.inv(covariances[k])  # nu W
        diff = X - means[k]
        maha = np.einsum("ni,ij,nj->n", diff, precision, diff)
        log_det_w = np.linalg.slogdet(precision / nu[k])[1]
        e_log_det = np.sum(digamma(0.5 * (nu[k] - np.arange(d)))) + d * np.log(2) + log_det_w
        log_rho[:, k] = (digamma(alpha[k]) - digamma(alpha.sum()) + 0.5 * e_log_det
                         - 0.5 * d / beta[k] - 0.5 * maha - 0.5 * d * np.log(2 * np.pi))
    log_rho -= log_rho.max(axis=1, keepdims=True)
    r = np.exp(log_rho)
    return r / r.sum(axis=1, keepdims=True)


def _dense_initial(X, start):
    """The spherical initial responsibilities over every component."""
    m, v = start["means"], start["variances"]
    sq = ((X[:, None, :] - m[None]) ** 2).sum(axis=2)
    log_joint = start["log_weights"] - 0.5 * X.shape[1] * np.log(v) - 0.5 * sq / v
    log_joint -= log_joint.max(axis=1, keepdims=True)
    r = np.exp(log_joint)
    return r / r.sum(axis=1, keepdims=True)


def _dense(rows, n_components):
    out = np.zeros((len(rows.ids), n_components))
    for c in range(rows.ids.shape[1]):
        valid = rows.ids[:, c] >= 0
        out[np.flatnonzero(valid), rows.ids[valid, c]] += rows.resp[valid, c]
    return out


def test_one_block_with_every_candidate_is_coordinate_ascent():
    X = _data()
    K = 5
    model = _model(X, "full", K)
    layout = _layout(model, X, K, K)
    start = _start(X, K)
    rows = B.initial_rows(X, None, start, n_active=K)
    resp = _dense_initial(X, start)
    assert_allclose(_dense(rows, K), resp, rtol=1e-10, atol=1e-12)
    (block,) = B.blocks_for_rows([rows], B.block_ranges(K, 1), layout)
    for _ in range(6):
        alpha, beta, means, nu, covariances = _dense_m_step(X, resp, model)
        p = B.block_posterior(block, model)
        assert_allclose(p.weight_concentration, alpha, rtol=1e-10)
        assert_allclose(p.mean_precision, beta, rtol=1e-10)
        assert_allclose(p.means, means, rtol=1e-10, atol=1e-10)
        assert_allclose(p.degrees_of_freedom, nu, rtol=1e-10)
        assert_allclose(p.covariances, covariances, rtol=1e-10, atol=1e-12)
        resp = _dense_e_step(X, alpha, beta, means, nu, covariances)
        rows = B.step_rows(rows, [block], layout)
        assert_allclose(_dense(rows, K), resp, rtol=1e-9, atol=1e-10)


def test_step_keeps_mass_outside_the_held_blocks():
    """Lemma 1: a row's mass on the held blocks is redistributed, the rest untouched."""
    X = _data()
    K = 8
    model = _model(X, "diag", K)
    layout = _layout(model, X, K, 3)
    rows = B.initial_rows(X, None, _start(X, K), n_active=3)
    blocks = B.blocks_for_rows([rows], B.block_ranges(K, 4), layout)
    held = [blocks[1], blocks[3]]
    inside = np.zeros(K, dtype=bool)
    for b in held:
        inside[b.start:b.stop] = True
    before = _dense(rows, K)
    after_rows = B.step_rows(rows, held, layout)  # updates the held blocks in place
    after = _dense(after_rows, K)
    assert_allclose(after[:, ~inside], before[:, ~inside], rtol=0, atol=0)
    assert_allclose(after[:, inside].sum(axis=1), before[:, inside].sum(axis=1), rtol=1e-12)
    assert ((after_rows.ids >= 0).sum(axis=1) <= 3).all()
    # the blocks' statistics change by exactly the rows' change
    recomputed = B.blocks_for_rows([after_rows], B.block_ranges(K, 4), layout)
    for updated in held:
        fresh = recomputed[updated.index]
        assert_allclose(updated.nk, fresh.nk, rtol=1e-10, atol=1e-10)
        assert_allclose(updated.sy, fresh.sy, rtol=1e-10, atol=1e-9)
        assert_allclose(updated.s2, fresh.s2, rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_lower_bound_never_decreases_across_block_steps(covariance_type):
    X = _data()
    K = 8
    model = _model(X, covariance_type, K)
    layout = _layout(model, X, K, 2)
    start = _start(X, K)
    partitions = [B.initial_rows(part, None, start, 2) for part in np.array_split(X, 2)]
    bounds = []
    B.run_sequential(partitions, layout, 4, max_iter=8, tol=0.0,
                     random_state=np.random.RandomState(0), on_step=bounds.append)
    steps = np.diff(bounds)
    assert len(steps) == 8 * 2 * 2
    assert steps.min() >= -1e-9 * abs(bounds[-1])
    assert bounds[-1] > bounds[0]


def test_lower_bound_matches_batch_vi_formula():
    """The bound assembled from row and block terms is batch VI's at the same posterior."""
    X = _data()
    K = 6
    model = _model(X, "full", K)
    layout = _layout(model, X, K, K)
    rows = B.initial_rows(X, None, _start(X, K), n_active=K)
    blocks = B.blocks_for_rows([rows], B.block_ranges(K, 3), layout)
    assembled = B.lower_bound([B.resp_log_resp(rows)],
                              [B.block_bound(b, layout) for b in blocks], layout)
    merged = B.merge_params([(b.start, B.block_posterior(b, model)) for b in blocks])
    expected = model.lower_bound(merged, B.resp_log_resp(rows))
    assert_allclose(assembled, expected, rtol=1e-12)


def _fit_start(X, covariance_type, K):
    """The fitted start of batch VI (max_iter=0) and the layout of its priors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start_model = BayesianGaussianMixture(
            n_components=K, covariance_type=covariance_type, random_state=0, max_iter=0,
            weight_concentration_prior_type="dirichlet_distribution").fit(X)
    return start_model


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_final_bound_within_one_percent_of_batch_vi(covariance_type):
    X = _data(600)
    K = 6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = BayesianGaussianMixture(
            n_components=K, covariance_type=covariance_type, random_state=0, max_iter=500,
            weight_concentration_prior_type="dirichlet_distribution").fit(X)
    start_model = _fit_start(X, covariance_type, K)
    model = start_model._model(start_model._published_priors())
    params = start_model._fitted_parameters()
    start = B.spherical_start(model, params)
    layout = _layout(model, X, K, 3, shift=model.weights(params) @ params.means)
    partitions = [B.initial_rows(part, None, start, 3) for part in np.array_split(X, 2)]
    result = B.run_sequential(partitions, layout, 4, max_iter=600, tol=1e-5,
                              random_state=np.random.RandomState(0))
    assert result["converged"]
    final = result["lower_bounds"][-1]
    assert abs(final - batch.lower_bound_) <= 0.01 * abs(batch.lower_bound_)


def test_schedule_meets_every_block_once_a_pass():
    rng = np.random.RandomState(0)
    for n_blocks, n_partitions in [(6, 2), (9, 3), (4, 4)]:
        rounds = B.schedule(n_blocks, n_partitions, rng)
        assert len(rounds) == n_partitions
        for groups in rounds:  # disjoint groups covering every block
            assert sorted(b for g in groups for b in g) == list(range(n_blocks))
        for w in range(n_partitions):
            assert sorted(b for groups in rounds for b in groups[w]) == list(range(n_blocks))


def test_tiles_and_component_chunks_keep_statistics_exact(monkeypatch):
    """Rows by tiles of 7 and posteriors by chunks of 2 components: still an exact ascent.

    Each tile moves its rows' mass and updates the blocks in place; the
    blocks' statistics stay the sums of the rows' current responsibilities,
    and the posterior made a chunk at a time is the posterior made at once.
    """
    X = _data(120)
    K = 6
    model = _model(X, "full", K)
    layout = _layout(model, X, K, 3)
    rows = B.initial_rows(X, None, _start(X, K), n_active=3)
    blocks = B.blocks_for_rows([rows], B.block_ranges(K, 2), layout)
    whole = [B.block_posterior(b, model) for b in blocks]
    monkeypatch.setattr(B, "TILE_ELEMENTS", 7 * K)
    monkeypatch.setattr(B, "CHUNK_BYTES", 2 * 8 * X.shape[1] ** 2)
    assert len(B._chunks(blocks[0])) == 2  # 3 components in chunks of 2 and 1
    for b, expected in zip(blocks, whole):
        chunked = B.block_posterior(b, model)
        for name in ("means", "covariances", "prec_chol", "weight_concentration"):
            assert_allclose(getattr(chunked, name), getattr(expected, name), rtol=1e-12)
    bounds = [B.lower_bound([B.resp_log_resp(rows)], [B.block_bound(b, layout) for b in blocks],
                            layout)]
    for _ in range(3):
        rows = B.step_rows(rows, blocks, layout)
        bounds.append(B.lower_bound([B.resp_log_resp(rows)],
                                    [B.block_bound(b, layout) for b in blocks], layout))
    assert np.diff(bounds).min() >= -1e-9 * abs(bounds[-1])
    assert bounds[-1] > bounds[0]
    fresh = B.blocks_for_rows([rows], B.block_ranges(K, 2), layout)
    for updated, recomputed in zip(blocks, fresh):
        assert_allclose(updated.nk, recomputed.nk, rtol=1e-10, atol=1e-10)
        assert_allclose(updated.s2, recomputed.s2, rtol=1e-9, atol=1e-7)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_blocks_store_statistics_only(covariance_type):
    """A block holds its statistics (full: triangles) and rebuilds the layout's second moments."""
    X = _data()
    K, d = 4, X.shape[1]
    model = _model(X, covariance_type, K)
    layout = _layout(model, X, K, 2)
    rows = B.initial_rows(X, None, _start(X, K), n_active=2)
    (block,) = B.blocks_for_rows([rows], B.block_ranges(K, 1), layout)
    assert block.nbytes == B.block_nbytes(K, d, layout)
    dense = B._second_moments(block, 0, K)
    assert dense.shape == model.covariance.second_moment_shape(K, d)
    if covariance_type == "full":
        assert block.s2.shape == (K, d * (d + 1) // 2)
        # the triangles' matrices are the rows' second moments about the shift
        resp = _dense(rows, K)
        y = X - layout.shift
        expected = np.einsum("nk,ni,nj->kij", resp, y, y)
        assert_allclose(dense, expected, rtol=1e-10)
