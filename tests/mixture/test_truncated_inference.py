"""Truncated inference (``inference="truncated"``, the default after a truncated fit).

References are independent of the code under test: dense log-joints from
SciPy's ``multivariate_normal`` and the exact computation
(``inference="exact"``).
"""

from __future__ import annotations

import pickle

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import sparse
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp, softmax
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.utils.estimator_checks import (
    check_dict_unchanged,
    check_estimators_pickle,
    check_fit_check_is_fitted,
    check_fit_idempotent,
    check_methods_sample_order_invariance,
    check_methods_subset_invariance,
    check_n_features_in_after_fitting,
)

import daskmix
from daskmix import GaussianMixture
from daskmix._model_io._storage import read_dataset
from daskmix.mixture._params import estep_params
from daskmix.mixture.kernels.pairs import get_pair_evaluator
from daskmix.mixture.kernels.truncated_inference import SearchInputs, search_rows
from tests.conftest import CHUNK_LAYOUTS, N_SAMPLES, as_dask

# fits with tol=0 run to max_iter on purpose
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

N_BLOBS = 12
TRUNCATED_TYPES = ["diag", "spherical", "full", "factor"]


@pytest.fixture(scope="module")
def blob_rows():
    """N_SAMPLES rows of 12 blobs in 3-D (well apart, unequal spreads), offset from 0."""
    rng = np.random.RandomState(0)
    centres = rng.uniform(-20, 20, size=(N_BLOBS, 3)) + 30.0
    labels = rng.randint(N_BLOBS, size=N_SAMPLES)
    return centres[labels] + rng.randn(N_SAMPLES, 3) * rng.uniform(0.5, 2.0, (N_BLOBS, 1))[labels]


def _truncated(covariance_type="diag", **params):
    settings = dict(n_components=8, covariance_type=covariance_type, algorithm="truncated",
                    n_active=2, n_neighbors=3, max_iter=8, tol=0.0, random_state=0)
    if covariance_type == "factor":
        settings["n_factors"] = 1
    settings.update(params)
    return GaussianMixture(**settings)


@pytest.fixture(scope="module")
def fitted(blob_rows):
    """A truncated diag fit, 8 components, n_active=2, n_neighbors=3."""
    return _truncated().fit(blob_rows)


def reference_log_joints(gm, X):
    """``log pi_c + log N(x | mu_c, Sigma_c)`` for every row and component, by SciPy."""
    covariances = np.asarray(gm.covariances_, dtype=np.float64)
    n_features = X.shape[1]
    out = np.empty((len(X), gm.n_components))
    for c in range(gm.n_components):
        cov = covariances[c]
        if cov.ndim == 0:
            cov = np.eye(n_features) * cov
        elif cov.ndim == 1:
            cov = np.diag(cov)
        out[:, c] = np.log(gm.weights_[c]) + multivariate_normal(gm.means_[c], cov).logpdf(X)
    return out


def _outputs(gm, X, inference):
    gm.set_params(inference=inference)
    try:
        return gm.predict(X), gm.predict_proba(X), gm.score_samples(X)
    finally:
        gm.set_params(inference="auto")


# ---- equal to the exact computation when the search covers every component --------


@pytest.mark.parametrize("covariance_type", TRUNCATED_TYPES)
def test_every_component_active_gives_the_exact_outputs(blob_rows, covariance_type):
    gm = _truncated(covariance_type, n_components=6, n_active=6, max_iter=4).fit(blob_rows)
    labels, proba, scores = _outputs(gm, blob_rows, "truncated")
    exact_labels, exact_proba, exact_scores = _outputs(gm, blob_rows, "exact")
    assert isinstance(proba, scipy.sparse.csr_array)
    assert_array_equal(labels, exact_labels)
    assert_allclose(proba.toarray(), exact_proba, rtol=1e-9, atol=1e-12)
    assert_allclose(scores, exact_scores, rtol=1e-10)
    # and to SciPy's densities
    log_joints = reference_log_joints(gm, blob_rows)
    assert_allclose(scores, logsumexp(log_joints, axis=1), rtol=1e-8)
    assert_allclose(proba.toarray(), softmax(log_joints, axis=1), atol=1e-8)


@pytest.mark.parametrize("covariance_type", TRUNCATED_TYPES)
def test_search_over_every_component_keeps_the_best_ones(blob_rows, covariance_type):
    # G = K: S(n) holds every component, so K(n) is each row's n_active best
    gm = _truncated(covariance_type, n_neighbors=8, max_iter=4).fit(blob_rows)
    labels, proba, scores = _outputs(gm, blob_rows, "truncated")
    log_joints = reference_log_joints(gm, blob_rows)
    top = np.argsort(-log_joints, axis=1)[:, :2]
    top_joints = np.take_along_axis(log_joints, top, axis=1)
    assert_array_equal(labels, log_joints.argmax(axis=1))
    assert_allclose(scores, logsumexp(top_joints, axis=1), rtol=1e-8)
    expected = np.zeros_like(log_joints)
    np.put_along_axis(expected, top, softmax(top_joints, axis=1), axis=1)
    assert_allclose(proba.toarray(), expected, atol=1e-8)
    # the truncated log-likelihood bounds the exact one from below
    assert np.all(scores <= logsumexp(log_joints, axis=1) + 1e-9)


# ---- many components -------------------------------------------------------------


def test_many_components_agree_with_the_exact_computation():
    # 2048 well separated blobs in 4-D, one component started near each
    k, n_features = 2048, 4
    rng = np.random.RandomState(0)
    centres = rng.uniform(-60, 60, size=(k, n_features))
    X = centres[rng.randint(k, size=10 * k)] + 0.5 * rng.randn(10 * k, n_features)
    gm = GaussianMixture(
        k, covariance_type="diag", algorithm="truncated", n_active=3, n_neighbors=8,
        max_iter=2, tol=0.0, random_state=0, weights_init=np.full(k, 1.0 / k),
        means_init=centres + 0.1 * rng.randn(k, n_features),
        precisions_init=np.full((k, n_features), 4.0),
    ).fit(X)
    new = centres[rng.randint(k, size=5000)] + 0.5 * rng.randn(5000, n_features)
    labels, scores, proba = gm.predict(new), gm.score_samples(new), gm.predict_proba(new)
    gm.set_params(inference="exact")
    exact_labels, exact_scores = gm.predict(new), gm.score_samples(new)
    gm.set_params(inference="auto")
    assert np.mean(labels == exact_labels) >= 0.99
    assert np.all(scores <= exact_scores + 1e-9 * np.abs(exact_scores))
    assert np.mean(exact_scores - scores) < 0.01
    assert proba.shape == (len(new), k) and proba.nnz == 3 * len(new)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(proba.argmax(axis=1), labels)
    # score, bic and aic come from the truncated log-likelihood
    n_parameters = 2 * k * n_features + k - 1  # diagonal covariances, means, weights
    mean = float(np.mean(scores))
    assert gm.score(new) == pytest.approx(mean, rel=1e-12)
    assert gm.bic(new) == pytest.approx(-2 * mean * len(new) + n_parameters * np.log(len(new)),
                                        rel=1e-12)
    assert gm.aic(new) == pytest.approx(-2 * mean * len(new) + 2 * n_parameters, rel=1e-12)


# ---- output types -----------------------------------------------------------------


def test_auto_is_truncated_after_a_truncated_fit_only(fitted, blob_rows):
    assert isinstance(fitted.predict_proba(blob_rows), scipy.sparse.csr_array)
    exact_fit = GaussianMixture(8, covariance_type="diag", max_iter=3,
                                random_state=0).fit(blob_rows)
    assert isinstance(exact_fit.predict_proba(blob_rows), np.ndarray)
    # n_active == n_components: truncated EM is exact EM, and so is inference
    everything = _truncated(n_active=8, max_iter=2).fit(blob_rows)
    assert isinstance(everything.predict_proba(blob_rows), np.ndarray)
    # the exact computation on request
    dense = fitted.set_params(inference="exact").predict_proba(blob_rows)
    fitted.set_params(inference="auto")
    assert isinstance(dense, np.ndarray) and dense.shape == (N_SAMPLES, 8)


def test_numpy_and_pandas_input_give_csr_arrays(fitted, blob_rows):
    for X in (blob_rows, pd.DataFrame(blob_rows), blob_rows.astype(np.float32)):
        proba = fitted.predict_proba(X)
        assert isinstance(proba, scipy.sparse.csr_array)
        assert proba.shape == (N_SAMPLES, 8)
        assert proba.dtype == np.asarray(X).dtype
        assert proba.nnz == 2 * N_SAMPLES
        assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    labels = fitted.predict(blob_rows)
    assert labels.dtype == np.int64 and labels.shape == (N_SAMPLES,)
    assert fitted.score_samples(blob_rows).shape == (N_SAMPLES,)


def test_dask_input_gives_lazy_coo_chunks(fitted, blob_rows):
    X = as_dask(blob_rows, CHUNK_LAYOUTS["ragged"])
    proba = fitted.predict_proba(X)
    assert isinstance(proba, da.Array)
    assert isinstance(proba._meta, sparse.COO)
    assert proba.chunks == (CHUNK_LAYOUTS["ragged"], (8,))
    assert all(name.startswith("daskmix-") for name in proba.dask.layers if "array" not in name)
    blocks = [block.compute() for block in proba.blocks]
    assert all(isinstance(block, sparse.COO) for block in blocks)
    computed = proba.compute()
    assert isinstance(computed, sparse.COO)
    assert_allclose(computed.todense(), fitted.predict_proba(blob_rows).toarray(), rtol=1e-12)
    assert isinstance(fitted.predict(X), da.Array)
    assert isinstance(fitted.score_samples(X), da.Array)


def test_xarray_input_gives_a_sparse_dataarray(fitted, blob_rows):
    rows = xr.DataArray(blob_rows, dims=("time", "band"),
                        coords={"time": np.arange(N_SAMPLES) * 10})
    proba = fitted.predict_proba(rows)
    assert isinstance(proba, xr.DataArray)
    assert proba.dims == ("time", "component")
    assert isinstance(proba.data, sparse.COO)
    assert_array_equal(proba["time"], rows["time"])
    lazy = fitted.predict_proba(rows.chunk({"time": 150}))
    assert isinstance(lazy.data, da.Array) and isinstance(lazy.data._meta, sparse.COO)
    assert_allclose(lazy.data.compute().todense(), proba.data.todense(), rtol=1e-12)


# ---- invariances -------------------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(CHUNK_LAYOUTS))
def test_chunking_does_not_change_the_outputs(fitted, blob_rows, layout):
    X = as_dask(blob_rows, CHUNK_LAYOUTS[layout])
    reference = (fitted.predict(blob_rows), fitted.predict_proba(blob_rows).toarray(),
                 fitted.score_samples(blob_rows))
    assert_array_equal(fitted.predict(X).compute(), reference[0])
    assert_array_equal(fitted.predict_proba(X).compute().todense(), reference[1])
    assert_array_equal(fitted.score_samples(X).compute(), reference[2])


def test_rows_do_not_depend_on_their_neighbours_in_the_block(fitted, blob_rows):
    order = np.random.RandomState(0).permutation(N_SAMPLES)
    assert_array_equal(fitted.predict(blob_rows[order]), fitted.predict(blob_rows)[order])
    assert_array_equal(fitted.score_samples(blob_rows[order]),
                       fitted.score_samples(blob_rows)[order])


def test_a_search_round_never_lowers_the_truncated_likelihood(fitted, blob_rows):
    structures = fitted._search_cache.get(fitted.means_, fitted.neighbors_, 3)
    covariance = fitted._covariance
    evaluator = get_pair_evaluator(covariance.name)
    params = estep_params(covariance, fitted._fitted_parameters(), blob_rows.dtype)
    scores = {}
    for rounds in (1, 2, 3):
        inputs = SearchInputs(covariance, evaluator, evaluator.tables(covariance, params),
                              params.shift, structures.neighbours, structures.tree, 2,
                              max_rounds=rounds)
        _, _, scores[rounds], done = search_rows(blob_rows, inputs)
        assert done.max() <= rounds
    assert np.all(scores[2] >= scores[1]) and np.all(scores[3] >= scores[2])


# ---- the fitted neighbourhoods ---------------------------------------------------------


def test_truncated_fit_publishes_its_neighbourhoods(fitted, blob_rows):
    g = fitted.neighbors_
    assert g.shape == (8, 3) and g.dtype == np.int32
    assert_array_equal(g[:, 0], np.arange(8))
    assert np.all((g >= -1) & (g < 8))
    refit = clone(fitted).set_params(algorithm="em", max_iter=2).fit(blob_rows)
    assert not hasattr(refit, "neighbors_")


def test_inference_without_fitted_neighbourhoods(blob_rows):
    # exact EM fits no neighbourhoods: the tree's nearest means stand in
    gm = GaussianMixture(8, covariance_type="full", max_iter=5, random_state=0,
                         n_active=2, n_neighbors=8).fit(blob_rows)
    labels, proba, scores = _outputs(gm, blob_rows, "truncated")
    log_joints = reference_log_joints(gm, blob_rows)
    assert_array_equal(labels, log_joints.argmax(axis=1))
    assert proba.nnz == 2 * N_SAMPLES
    assert np.all(scores <= logsumexp(log_joints, axis=1) + 1e-9)


def test_tied_covariances_have_no_truncated_inference(blob_rows):
    gm = GaussianMixture(4, covariance_type="tied", max_iter=2, random_state=0,
                         inference="truncated").fit(blob_rows)
    with pytest.raises(ValueError, match="inference='exact'"):
        gm.predict(blob_rows)


def test_inference_is_validated():
    with pytest.raises(ValueError, match="inference"):
        GaussianMixture(inference="sparse").fit(np.random.RandomState(0).randn(20, 2))


# ---- the cached tree, clone, pickle, model files ---------------------------------------


def test_tree_is_built_once_and_again_after_a_refit(blob_rows):
    gm = _truncated(max_iter=3).fit(blob_rows)
    gm.predict(blob_rows)
    structures = gm._search_cache.get(gm.means_, gm.neighbors_, gm.n_neighbors)
    gm.predict(blob_rows)
    assert gm._search_cache.get(gm.means_, gm.neighbors_, gm.n_neighbors) is structures
    gm.fit(blob_rows[::-1])
    # a truncated fit builds the new model's structures before it returns
    assert gm._search_cache._key[0] is gm.means_
    assert gm._search_cache._value is not structures
    gm.partial_fit(blob_rows)
    assert gm._search_cache._value is None
    # inference still runs after partial_fit (on the fit's neighbourhoods)
    assert gm.predict_proba(blob_rows).nnz == 2 * N_SAMPLES


def test_predict_leaves_the_estimator_dict_unchanged(fitted, blob_rows):
    # scikit-learn's check_dict_unchanged, in truncated mode
    fitted = clone(fitted).fit(blob_rows)
    before = dict(fitted.__dict__)
    fitted.predict(blob_rows)
    fitted.predict_proba(blob_rows)
    assert fitted.__dict__ == before


def test_clone_and_pickle(fitted, blob_rows):
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "means_")
    fitted.predict(blob_rows)  # the cache holds a tree now
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored._search_cache._value is None  # pickles without its tree
    assert_array_equal(restored.predict(blob_rows), fitted.predict(blob_rows))
    assert_array_equal(restored.predict_proba(blob_rows).toarray(),
                       fitted.predict_proba(blob_rows).toarray())


def test_model_file_keeps_neighbourhoods_and_predictions(fitted, blob_rows, tmp_path):
    path = tmp_path / "model.nc"
    fitted.set_params(inference="truncated").save(path)
    fitted.set_params(inference="auto")
    loaded = daskmix.load(path)
    assert loaded.inference == "truncated"
    assert_array_equal(loaded.neighbors_, fitted.neighbors_)
    assert loaded.neighbors_.dtype == np.int32
    assert_array_equal(loaded.predict(blob_rows), fitted.predict(blob_rows))
    assert_array_equal(loaded.score_samples(blob_rows), fitted.score_samples(blob_rows))
    # the default is not written (files of earlier versions save back unchanged)
    fitted.save(path)
    assert "inference" not in read_dataset(path).attrs["params"]
    assert daskmix.load(path).inference == "auto"


@pytest.mark.parametrize("check", [
    check_dict_unchanged, check_estimators_pickle, check_fit_idempotent,
    check_methods_sample_order_invariance, check_methods_subset_invariance,
    check_fit_check_is_fitted, check_n_features_in_after_fitting,
], ids=lambda check: check.__name__)
def test_scikit_learn_checks_in_truncated_mode(check):
    # the registry-wide checks (test_estimator_checks.py) fit one component,
    # where "auto" is exact: these search (some checks set n_components=1)
    estimator = GaussianMixture(3, covariance_type="diag", algorithm="truncated", n_active=1,
                                n_neighbors=2, max_iter=5, random_state=0,
                                inference="truncated")
    check(type(estimator).__name__, estimator)
