"""Bad input raises a clear error naming the fix."""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from daskmix import GaussianMixture
from tests.conftest import as_dask


@pytest.fixture(scope="module")
def X():
    """Small two-blob data, float64."""
    rng = np.random.RandomState(0)
    return np.vstack([rng.randn(50, 2), rng.randn(50, 2) + 5])


@pytest.mark.parametrize("where", [0, 57, 99])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_found_in_the_first_pass(X, where, value, compute_counter):
    bad = X.copy()
    bad[where, 1] = value
    gm = GaussianMixture(2, means_init=[[0, 0], [5, 5]], weights_init=[0.5, 0.5],
                         precisions_init=[np.eye(2), np.eye(2)])
    with pytest.raises(ValueError, match="NaN or infinity") as info:
        gm.fit(as_dask(bad, (30, 30, 40)))
    assert "1 non-finite" in str(info.value)
    # no extra pass: the EM pass itself found it
    assert compute_counter.count == 1
    assert not hasattr(gm, "means_")


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_nonfinite_values_found_during_initialisation(X, init_params):
    bad = X.copy()
    bad[::7, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        GaussianMixture(2, init_params=init_params, random_state=0).fit(as_dask(bad, 25))


def test_wrong_dimensionality():
    with pytest.raises(ValueError, match="Reshape your data"):
        GaussianMixture().fit(np.arange(10.0))
    with pytest.raises(ValueError, match="Reshape your data"):
        GaussianMixture().fit(da.arange(10.0, chunks=5))
    with pytest.raises(ValueError, match="3D"):
        GaussianMixture().fit(da.zeros((4, 3, 2), chunks=2))


def test_non_numeric_dtype():
    with pytest.raises((TypeError, ValueError), match=r"float|numeric"):
        GaussianMixture().fit(np.array([["a", "b"], ["c", "d"], ["e", "f"]]))
    with pytest.raises(TypeError, match="numeric data"):
        GaussianMixture().fit(da.from_array(np.array([["a", "b"], ["c", "d"]], dtype=object), chunks=1))
    with pytest.raises(ValueError, match="Complex data not supported"):
        GaussianMixture().fit(da.ones((5, 2), chunks=5) * 1j)


def test_integer_input_is_converted_to_float64(X):
    gm = GaussianMixture(2, random_state=0).fit(da.from_array((X * 10).astype(np.int32), 50))
    assert gm.means_.dtype == np.float64


def test_fewer_samples_than_components(X):
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(5).fit(as_dask(X[:4], (2, 2)))
    with pytest.raises(ValueError, match="minimum of 2"):
        GaussianMixture(1).fit(X[:1])


def test_feature_count_mismatch_at_predict(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    for method in ("predict", "predict_proba", "score_samples", "score"):
        with pytest.raises(ValueError, match="X has 3 features, but GaussianMixture is expecting 2"):
            getattr(gm, method)(as_dask(np.hstack([X, X[:, :1]]), 50))
        with pytest.raises(ValueError, match="X has 3 features"):
            getattr(gm, method)(np.hstack([X, X[:, :1]]))


def test_predict_before_fit(X):
    with pytest.raises(NotFittedError):
        GaussianMixture().predict(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "bogus"}, "covariance_type"),
        ({"tol": -1.0}, "tol"),
        ({"reg_covar": -1e-3}, "reg_covar"),
        ({"max_iter": -1}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"init_params": "nope"}, "init_params"),
        ({"split_every": 1}, "split_every"),
        ({"algorithm": "magic"}, "algorithm"),
    ],
)
def test_invalid_parameters(X, params, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**params).fit(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"weights_init": [0.2, 0.2]}, "should be normalized"),
        ({"weights_init": [0.5, 0.5, 0.0]}, "shape"),
        ({"means_init": [[0.0, 0.0]]}, "shape"),
        ({"precisions_init": [[1.0, 0.0], [1.0, 1.0]], "covariance_type": "diag"}, "positive"),
        ({"precisions_init": [np.eye(2), -np.eye(2)]}, "positive-definite"),
    ],
)
def test_invalid_initial_values(X, params, match):
    gm = GaussianMixture(2, **params)
    with pytest.raises(ValueError, match=match):
        gm.fit(X)
    # validation never rewrites the user's parameters
    for key, value in params.items():
        assert getattr(gm, key) is value


def test_unknown_chunk_sizes(X):
    ddf = dd.from_pandas(pd.DataFrame(X, columns=["a", "b"]), npartitions=3)
    unknown = ddf.to_dask_array()
    with pytest.raises(ValueError, match=r"compute_chunk_sizes\(\)"):
        GaussianMixture(2).fit(unknown)
    # the remedy works
    GaussianMixture(2, random_state=0).fit(unknown.compute_chunk_sizes())


def test_features_split_across_chunks(X):
    with pytest.raises(ValueError, match=r"rechunk\(\{1: -1\}\)"):
        GaussianMixture(2).fit(da.from_array(X, chunks=(50, 1)))


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.ones(99), "shape"),
        (-np.ones(100), "negative"),
        (np.zeros(100), "sums to zero"),
        (np.full(100, np.nan), "NaN"),
        (da.ones(99, chunks=50), "shape"),
    ],
)
def test_bad_sample_weight(X, weights, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(X, sample_weight=weights)


def test_nonfinite_values_at_predict_time(X):
    gm = GaussianMixture(2, random_state=0).fit(X)
    bad = X.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        gm.predict(bad)
    lazy = gm.predict_proba(as_dask(bad, 50))  # building the graph reads nothing
    with pytest.raises(ValueError, match="NaN or infinity"):
        lazy.compute()
