"""IncrementalPCA: bad input raises a clear error naming the fix, and leaves no half fit."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

from daskmix import IncrementalPCA
from tests.conftest import as_dask


@pytest.fixture(scope="module")
def X():
    """100 correlated rows in 4 features."""
    rng = np.random.RandomState(0)
    return rng.randn(100, 4) @ rng.randn(4, 4) + 3.0


def fitted_state(ipca):
    """Copies of every fitted attribute, to check an error changed none."""
    return {k: np.copy(v) for k, v in vars(ipca).items() if k.endswith("_")}


def assert_state_unchanged(ipca, before):
    after = fitted_state(ipca)
    assert after.keys() == before.keys()
    for name, value in before.items():
        assert_array_equal(after[name], value, err_msg=name)


@pytest.mark.parametrize("where", [0, 57, 99])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_found_in_the_one_pass(X, where, value, compute_counter):
    bad = X.copy()
    bad[where, 1] = value
    ipca = IncrementalPCA(2)
    with pytest.raises(ValueError, match="NaN or infinity") as info:
        ipca.fit(as_dask(bad, (30, 30, 40)))
    assert "1 non-finite" in str(info.value)
    assert compute_counter.count == 1  # no extra pass: the moments pass found it
    assert not hasattr(ipca, "components_")


def test_failed_partial_fit_leaves_the_previous_fit(X):
    ipca = IncrementalPCA(2).partial_fit(X[:50])
    before = fitted_state(ipca)
    bad = X[50:].copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        ipca.partial_fit(da.from_array(bad, chunks=20))
    assert_state_unchanged(ipca, before)
    with pytest.raises(ValueError, match="NaN or infinity"):
        ipca.fit(bad)
    assert_state_unchanged(ipca, before)


def test_nonfinite_values_in_transform_raise(X):
    ipca = IncrementalPCA(2).fit(X)
    bad = X.copy()
    bad[5, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        ipca.transform(bad)
    lazy = ipca.transform(as_dask(bad, 25))  # lazy: raises when computed
    with pytest.raises(ValueError, match="NaN or infinity"):
        lazy.compute()


def test_feature_count_mismatch(X):
    ipca = IncrementalPCA(2).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but IncrementalPCA is expecting 4"):
        ipca.transform(X[:, :3])
    before = fitted_state(ipca)
    with pytest.raises(ValueError, match="X has 3 features"):
        ipca.partial_fit(as_dask(X[:, :3], 50))
    assert_state_unchanged(ipca, before)
    with pytest.raises(ValueError, match="inverse_transform expects the output of transform"):
        ipca.inverse_transform(X[:, :3])


def test_n_components_larger_than_the_data(X):
    with pytest.raises(ValueError, match="n_components=5 must be <= n_features=4"):
        IncrementalPCA(5).fit(as_dask(X, 50))
    with pytest.raises(ValueError, match="n_components=5 must be <= n_features=4"):
        IncrementalPCA(5).partial_fit(X)
    with pytest.raises(ValueError, match="n_components=3 must be <= n_samples=2"):
        IncrementalPCA(3).fit(X[:2])
    with pytest.raises(ValueError, match="first partial_fit batch"):
        IncrementalPCA(3).partial_fit(X[:2])


def test_n_components_cannot_change_between_partial_fits(X):
    ipca = IncrementalPCA(2).partial_fit(X[:50])
    ipca.set_params(n_components=3)
    with pytest.raises(ValueError, match=r"changed from 2 to 3.*call fit to start over"):
        ipca.partial_fit(X[50:])


def test_too_few_samples(X):
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        IncrementalPCA(1).fit(X[:1])
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        IncrementalPCA(1).partial_fit(as_dask(X[:1], 1))
    # later batches may be a single row, as in scikit-learn
    ipca = IncrementalPCA(1).partial_fit(X[:10])
    ipca.partial_fit(X[10:11])
    assert ipca.n_samples_seen_ == 11


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": 1.0}, "n_components"),
        ({"n_components": 1.5}, "n_components"),
        ({"n_components": "mle"}, "n_components"),
        ({"whiten": "yes"}, "whiten"),
        ({"batch_size": 0}, "batch_size"),
        ({"split_every": 1}, "split_every"),
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_bad_parameters(X, params, match, method):
    with pytest.raises(ValueError, match=match):
        getattr(IncrementalPCA(**params), method)(X)


def test_not_fitted(X):
    with pytest.raises(NotFittedError):
        IncrementalPCA().transform(X)
    with pytest.raises(NotFittedError):
        IncrementalPCA().inverse_transform(X[:, :2])


def test_features_split_over_chunks(X):
    with pytest.raises(ValueError, match=r"X.rechunk\(\{1: -1\}\)"):
        IncrementalPCA(2).fit(da.from_array(X, chunks=(50, 2)))
