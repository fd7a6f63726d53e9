"""xarray in, xarray out, for every estimator: features found by name, samples kept."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal

from daskmix import GaussianMixture, IncrementalPCA, MiniBatchKMeans

ESTIMATORS = {
    "gmm": lambda: GaussianMixture(2, random_state=0),
    "kmeans": lambda: MiniBatchKMeans(2, batch_size=60, random_state=0),
    "pca": lambda: IncrementalPCA(2),
}
#: The row-wise method with a column dimension, and that dimension's name.
COLUMN_OUTPUT = {"gmm": ("predict_proba", "component"), "kmeans": ("transform", "cluster"),
                 "pca": ("transform", "component")}


@pytest.fixture(scope="module")
def cube():
    """Two blobs on a 6 x 20 (y, x) grid with three labelled bands."""
    rng = np.random.RandomState(0)
    values = np.vstack([rng.randn(60, 3), rng.randn(60, 3) + 6]).reshape(6, 20, 3)
    return xr.DataArray(values, dims=("y", "x", "band"),
                        coords={"y": np.arange(6) * 10.0, "x": pd.date_range("2026", periods=20),
                                "band": ["red", "green", "blue"]})


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("lazy", [False, True])
def test_labelled_output_over_the_sample_dims(cube, name, lazy):
    X = cube.chunk({"y": 2}) if lazy else cube
    est = ESTIMATORS[name]().fit(X)
    method, column_dim = COLUMN_OUTPUT[name]
    out = getattr(est, method)(X)
    assert isinstance(out, xr.DataArray)
    assert out.dims == ("y", "x", column_dim)
    assert_array_equal(out[column_dim], np.arange(2))
    assert_array_equal(out["x"], cube["x"])
    assert_array_equal(out["y"], cube["y"])
    assert isinstance(out.data, da.Array) == lazy
    flat = cube.values.reshape(-1, 3)
    assert_allclose(out.values.reshape(-1, 2), getattr(est, method)(flat), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_features_are_found_by_name_and_label(cube, name):
    est = ESTIMATORS[name]().fit(cube)
    method, _ = COLUMN_OUTPUT[name]
    expected = getattr(est, method)(cube)
    shuffled = cube.isel(band=[2, 0, 1]).transpose("band", "x", "y")
    out = getattr(est, method)(shuffled)
    assert out.dims[:2] == ("x", "y")
    assert_allclose(out.transpose("y", "x", ...).values, expected.values, rtol=1e-12)


def test_missing_feature_dimension_is_named(cube):
    gm = GaussianMixture(2, random_state=0).fit(cube)
    with pytest.raises(ValueError, match=r"fitted with its features along 'band'.*rename"):
        gm.predict(cube.rename(band="channel"))


def test_other_feature_labels_are_named(cube):
    gm = GaussianMixture(2, random_state=0).fit(cube)
    other = cube.assign_coords(band=["red", "green", "nir"])
    with pytest.raises(ValueError, match=r"missing \['blue'\], unexpected \['nir'\]"):
        gm.predict(other)


def test_unlabelled_features_are_taken_in_order(cube):
    gm = GaussianMixture(2, random_state=0).fit(cube.drop_vars("band"))
    assert_array_equal(gm.predict(cube).values, gm.predict(cube.values.reshape(-1, 3))
                       .reshape(6, 20))


def test_fitting_other_input_forgets_the_feature_dimension(cube):
    gm = GaussianMixture(2, random_state=0).fit(cube)
    gm.fit(cube.values.reshape(-1, 3))
    assert not hasattr(gm, "_xarray_features")
    # the last dimension is the features again
    assert gm.predict(cube.rename(band="channel")).dims == ("y", "x")
