"""Every supported input kind, and outputs that follow the input."""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal

from daskmix import GaussianMixture


@pytest.fixture(scope="module")
def data():
    """Two blobs in three named features."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(60, 3), rng.randn(60, 3) + 6])
    return X


@pytest.fixture(scope="module")
def reference(data):
    """A fit on the NumPy array, the reference for every other input kind."""
    return GaussianMixture(2, random_state=0).fit(data)


def test_pandas_dataframe_keeps_feature_names(data, reference):
    df = pd.DataFrame(data, columns=["x", "y", "z"])
    gm = GaussianMixture(2, random_state=0).fit(df)
    assert_array_equal(gm.feature_names_in_, ["x", "y", "z"])
    assert_allclose(gm.means_, reference.means_, rtol=1e-10)
    labels = gm.predict(df)
    assert isinstance(labels, np.ndarray)
    with pytest.raises(ValueError, match="feature names"):
        gm.predict(df.rename(columns={"x": "other"}))


def test_dask_dataframe_is_fitted_lazily(data, reference):
    ddf = dd.from_pandas(pd.DataFrame(data, columns=["x", "y", "z"]), npartitions=4)
    gm = GaussianMixture(2, random_state=0).fit(ddf)
    assert_array_equal(gm.feature_names_in_, ["x", "y", "z"])
    assert_allclose(gm.means_, reference.means_, rtol=1e-10)
    labels = gm.predict(ddf)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), reference.predict(data))


@pytest.mark.parametrize("lazy", [False, True])
def test_xarray_in_xarray_out(data, reference, lazy):
    samples = pd.date_range("2026-01-01", periods=len(data), freq="h")
    arr = xr.DataArray(data, dims=("time", "band"),
                       coords={"time": samples, "band": ["r", "g", "b"]})
    if lazy:
        arr = arr.chunk({"time": 40})
    gm = GaussianMixture(2, random_state=0).fit(arr)
    assert_allclose(gm.means_, reference.means_, rtol=1e-10)
    proba = gm.predict_proba(arr)
    assert isinstance(proba, xr.DataArray)
    assert proba.dims == ("time", "component")
    assert_array_equal(proba["time"], samples)
    assert_array_equal(proba["component"], [0, 1])
    assert isinstance(proba.data, da.Array) == lazy
    labels = gm.predict(arr)
    assert labels.dims == ("time",)
    assert_array_equal(labels.values, reference.predict(data))
    assert_allclose(gm.score_samples(arr).values, reference.score_samples(data))


def test_xarray_extra_dimensions_are_stacked_into_samples(data, reference):
    cube = xr.DataArray(data.reshape(10, 12, 3), dims=("y", "x", "band"),
                        coords={"y": np.arange(10), "x": np.arange(12) * 0.5})
    gm = GaussianMixture(2, random_state=0).fit(cube)
    assert_allclose(gm.means_, reference.means_, rtol=1e-10)
    labels = gm.predict(cube)
    assert labels.dims == ("y", "x")
    assert_array_equal(labels["x"], np.arange(12) * 0.5)
    assert_array_equal(labels.values.ravel(), reference.predict(data))


def test_float32_stays_float32(data):
    gm = GaussianMixture(2, random_state=0).fit(da.from_array(data.astype(np.float32), 40))
    assert gm.means_.dtype == np.float32
    assert gm.predict_proba(data.astype(np.float32)).dtype == np.float32
    assert gm.score_samples(data.astype(np.float32)).dtype == np.float32


def test_information_criteria_count_every_stacked_sample(data, reference):
    cube = xr.DataArray(data.reshape(10, 12, 3), dims=("y", "x", "band"))
    assert_allclose(reference.bic(cube), reference.bic(data), rtol=1e-12)
    assert_allclose(reference.aic(cube), reference.aic(data), rtol=1e-12)


def test_numpy_input_is_not_copied(data):
    """Chunks of in-memory input are views of the caller's array."""
    import dask

    from daskmix._validation import check_input

    X = np.ascontiguousarray(data)
    array = check_input(GaussianMixture(), X, reset=True).array
    blocks = dask.compute(*array.to_delayed().ravel(), scheduler="sync")
    assert all(np.shares_memory(block, X) for block in blocks)
