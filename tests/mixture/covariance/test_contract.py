"""The covariance interface's contract, checked for every registered covariance type.

Each test is parametrised over the registry itself, so a new type is tested
by registering it. Fit-time parameters are built through the interface
(moments of random data and responsibilities, the M-step, then
``from_initial``), so no test knows a type's parameter layout.
"""

from __future__ import annotations

import inspect
import pickle
from types import SimpleNamespace

import dask
import numpy as np
import pytest
from dask.base import tokenize
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from daskmix.mixture.covariance import (
    COVARIANCE_TYPES,
    CovarianceType,
    get_covariance_type,
)
from daskmix.mixture.covariance._base import (
    EstimatorBinding,
    KernelMaths,
    ModelOutput,
    MStep,
)

N_COMPONENTS, N_FEATURES, N_ROWS = 3, 4, 400
#: Settings of the types that take some (the others ignore them).
SETTINGS = {"n_factors": 2}
REG_COVAR = 1e-6


def _covariance(name):
    return get_covariance_type(name, **SETTINGS)


def _data(seed=0):
    """Rows far from the origin and random soft responsibilities, components along rows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_ROWS, N_FEATURES)) @ rng.normal(size=(N_FEATURES, N_FEATURES))
    X += 30.0
    resp_t = rng.dirichlet(np.ones(N_COMPONENTS), size=N_ROWS).T
    return X, resp_t


def _fit_time_params(covariance, seed=0):
    """Shift, shifted centres and fit-time ``(covariances, prec_chol)`` from one M-step."""
    X, resp_t = _data(seed)
    shift = X.mean(axis=0)
    init = covariance.initial_type()
    old_centres = np.zeros((N_COMPONENTS, N_FEATURES))
    nk, sy, s2 = init.moments(init.prepare(X, shift), resp_t, old_centres)
    centres, covariances = init.update(s2, nk, sy, old_centres, REG_COVAR)
    covariances, prec_chol = covariance.from_initial(covariances,
                                                     init.precision_cholesky(covariances))
    return shift, centres, covariances, prec_chol


@pytest.fixture(params=sorted(COVARIANCE_TYPES))
def covariance(request):
    """Every registered covariance type, with its settings bound."""
    return _covariance(request.param)


# ---- the interface itself ------------------------------------------------------
def test_the_base_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        CovarianceType()


def test_every_method_of_the_interface_is_an_instance_method(covariance):
    """A covariance type is an object: no static or class methods to override."""
    assert isinstance(covariance, CovarianceType)
    for concern in (KernelMaths, MStep, EstimatorBinding, ModelOutput):
        for name, member in vars(concern).items():
            if not callable(member) or name.startswith("_"):
                continue
            static = inspect.getattr_static(covariance, name)
            assert not isinstance(static, (staticmethod, classmethod)), (concern, name)


def test_equal_settings_are_equal_hash_alike_and_tokenize_alike(covariance):
    twin = _covariance(covariance.name)
    assert twin == covariance and hash(twin) == hash(covariance)
    assert pickle.loads(pickle.dumps(covariance)) == covariance
    with dask.config.set({"tokenize.ensure-deterministic": True}):
        assert tokenize(twin) == tokenize(covariance)


def test_types_and_settings_tell_tokens_apart():
    tokens = {tokenize(_covariance(name)) for name in COVARIANCE_TYPES}
    assert len(tokens) == len(COVARIANCE_TYPES)
    one, two = get_covariance_type("factor", n_factors=1), get_covariance_type("factor",
                                                                                n_factors=2)
    assert one != two and tokenize(one) != tokenize(two)


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        get_covariance_type("banded")


# ---- parameters --------------------------------------------------------------------
def test_precision_cholesky_and_covariance_round_trip(covariance):
    """precisions <-> precision Cholesky <-> covariances, and fitted attributes <-> fit-time."""
    _, _, covariances, prec_chol = _fit_time_params(covariance)
    assert_allclose(covariance.precision_cholesky(covariances), prec_chol, rtol=1e-10)
    attrs = covariance.fitted_attributes(covariances, prec_chol)
    shape = covariance.parameter_shape(N_COMPONENTS, N_FEATURES)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert attrs[name].shape == shape
    assert_allclose(covariance.precisions_from_cholesky(attrs["precisions_cholesky_"]),
                    attrs["precisions_"], rtol=1e-10)
    assert_allclose(covariance.precision_cholesky_from_precisions(attrs["precisions_"]),
                    attrs["precisions_cholesky_"], rtol=1e-8, atol=1e-12)
    assert_allclose(covariance.covariances_from_cholesky(attrs["precisions_cholesky_"]),
                    attrs["covariances_"], rtol=1e-8, atol=1e-12)
    covariance.check_precisions(attrs["precisions_"], N_COMPONENTS, N_FEATURES)
    back = covariance.params_from_fitted(SimpleNamespace(**attrs))
    assert_allclose(back[0], covariances, rtol=1e-12)
    assert_allclose(back[1], prec_chol, rtol=1e-10)


def test_n_parameters_counts_the_free_entries(covariance):
    """Distinct entries of the fit-time covariances, less the factors' rotations."""
    _, _, covariances, _ = _fit_time_params(covariance)
    distinct = len(np.unique(np.round(covariances, 12)))
    n_factors = getattr(covariance, "n_factors", 0)
    rotations = N_COMPONENTS * n_factors * (n_factors - 1) / 2
    assert covariance.n_parameters(N_COMPONENTS, N_FEATURES) == distinct - rotations


# ---- kernel maths ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 1e-4)])
def test_log_prob_t_is_the_dense_gaussian_log_density(covariance, dtype, rtol):
    shift, centres, covariances, prec_chol = _fit_time_params(covariance)
    attrs = covariance.fitted_attributes(covariances, prec_chol)
    dense = covariance.dense_covariances(attrs["covariances_"], N_COMPONENTS, N_FEATURES)
    assert dense.shape == (N_COMPONENTS, N_FEATURES, N_FEATURES)
    X, _ = _data(seed=1)
    log_weights = np.log(np.array([0.2, 0.3, 0.5]))
    expected = np.stack([multivariate_normal(c + shift, s).logpdf(X)
                         for c, s in zip(centres, dense)]) + log_weights[:, None]
    design = covariance.prepare(X.astype(dtype), shift.astype(dtype))
    got = covariance.log_prob_t(design, centres.astype(dtype), prec_chol.astype(dtype),
                                log_weights)
    assert got.shape == (N_COMPONENTS, N_ROWS)
    assert_allclose(got, expected, rtol=rtol)


def test_moments_are_the_weights_and_weighted_sums(covariance):
    shift, centres, _, prec_chol = _fit_time_params(covariance)
    X, resp_t = _data(seed=2)
    design = covariance.prepare(X, shift)
    covariance.log_prob_t(design, centres, prec_chol)  # factor: the factors' posterior means
    nk, sy, s2 = covariance.moments(design, resp_t, centres)
    assert_allclose(nk, resp_t.sum(axis=1), rtol=1e-12)
    assert_allclose(sy, resp_t @ (X - shift), rtol=1e-10)
    assert s2.shape == covariance.second_moment_shape(N_COMPONENTS, N_FEATURES)


def _weighted(resp_t, X):
    """Per-component weighted means and covariances (dense reference)."""
    nk = resp_t.sum(axis=1)
    means = resp_t @ X / nk[:, None]
    covs = np.stack([(r[:, None] * (X - m)).T @ (X - m) / n
                     for r, m, n in zip(resp_t, means, nk)])
    return nk, means, covs


#: The M-step's covariance as a function of the weighted per-component covariances
#: (factor's M-step is EM for factor analysers: tests/mixture/test_factor.py).
WEIGHTED_COVARIANCE = {
    "full": lambda nk, covs: covs,
    "tied": lambda nk, covs: np.broadcast_to(np.tensordot(nk, covs, 1) / nk.sum(), covs.shape),
    "diag": lambda nk, covs: np.stack([np.diag(np.diag(c)) for c in covs]),
    "spherical": lambda nk, covs: np.stack([np.trace(c) / len(c) * np.eye(len(c))
                                            for c in covs]),
}


@pytest.mark.parametrize("name", sorted(WEIGHTED_COVARIANCE))
def test_moments_and_update_give_the_weighted_covariance(name):
    covariance = _covariance(name)
    shift, centres, _, _ = _fit_time_params(covariance)
    X, resp_t = _data(seed=3)
    nk, sy, s2 = covariance.moments(covariance.prepare(X, shift), resp_t, centres)
    new_centres, covariances = covariance.update(s2, nk, sy, centres, REG_COVAR)
    weights, means, covs = _weighted(resp_t, X)
    assert_allclose(new_centres + shift, means, rtol=1e-10)
    dense = covariance.dense_covariances(covariances, N_COMPONENTS, N_FEATURES)
    expected = WEIGHTED_COVARIANCE[name](weights, covs) + REG_COVAR * np.eye(N_FEATURES)
    assert_allclose(dense, expected, rtol=1e-8, atol=1e-10)


# ---- output ----------------------------------------------------------------------------
def test_samples_have_the_component_moments(covariance):
    shift, centres, covariances, prec_chol = _fit_time_params(covariance)
    public = covariance.fitted_attributes(covariances, prec_chol)["covariances_"]
    dense = covariance.dense_covariances(public, N_COMPONENTS, N_FEATURES)
    rng = np.random.RandomState(0)
    for k in range(N_COMPONENTS):
        mean = centres[k] + shift
        draws = covariance.sample(rng, mean, public, k, 20000)
        assert draws.shape == (20000, N_FEATURES)
        scale = np.sqrt(np.diag(dense[k]))
        assert_allclose((draws.mean(axis=0) - mean) / scale, 0.0, atol=0.05)
        assert_allclose(np.cov(draws.T) / np.outer(scale, scale),
                        dense[k] / np.outer(scale, scale), atol=0.05)
