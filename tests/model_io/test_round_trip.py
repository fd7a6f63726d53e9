"""Model files: save then load gives back the same estimator, bit for bit."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError

import daskmix
from daskmix import GaussianMixture, IncrementalPCA, MiniBatchKMeans
from daskmix._model_io import FORMAT, VERSION, model_to_dataset
from daskmix.mixture.covariance import COVARIANCE_TYPES
from tests._covariance_cases import covariance_settings
from tests.conftest import as_dask
from tests.model_io._support import assert_same_state

STORAGES = ["model.nc", "model.zarr"]


@pytest.fixture(params=STORAGES)
def path(request, tmp_path):
    """A netCDF file path, or a zarr store path."""
    return tmp_path / request.param


def round_trip(estimator, path):
    estimator.save(path)
    return daskmix.load(path)


@pytest.mark.parametrize("covariance_type", sorted(COVARIANCE_TYPES))
def test_gaussian_mixture_round_trip_is_exact(blobs, covariance_type, path):
    X, _ = blobs
    gm = GaussianMixture(3, random_state=0, **covariance_settings(covariance_type)).fit(X)
    loaded = round_trip(gm, path)
    assert_same_state(gm, loaded)
    assert loaded.get_params() == gm.get_params()
    assert_array_equal(loaded.predict(X), gm.predict(X))
    assert_array_equal(loaded.predict_proba(X), gm.predict_proba(X))
    assert_array_equal(loaded.score_samples(X), gm.score_samples(X))
    assert loaded.bic(X) == gm.bic(X)


def test_truncated_fit_keeps_its_evaluation_counts(blobs, path):
    X, _ = blobs
    gm = GaussianMixture(4, covariance_type="diag", algorithm="truncated", n_active=2,
                         n_neighbors=2, random_state=0).fit(X)
    loaded = round_trip(gm, path)
    assert_same_state(gm, loaded)
    assert_array_equal(loaded.n_evaluations_, gm.n_evaluations_)
    assert loaded.n_evaluations_.dtype == np.int64
    # an exact-EM model has no evaluation counts, in memory or in its file
    exact = round_trip(GaussianMixture(4, random_state=0).fit(X), path)
    assert not hasattr(exact, "n_evaluations_")


def test_float32_model_stays_float32(blobs, tmp_path):
    X = blobs[0].astype(np.float32)
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    loaded = round_trip(gm, tmp_path / "model.nc")
    assert loaded.means_.dtype == np.float32
    assert_same_state(gm, loaded)


def test_parameters_with_arrays_round_trip(blobs, tmp_path):
    X, _ = blobs
    means_init = X[[0, 200, 400]]
    gm = GaussianMixture(3, means_init=means_init, tol=1e-4, max_iter=50,
                         random_state=3).fit(X)
    loaded = round_trip(gm, tmp_path / "model.nc")
    assert_array_equal(loaded.means_init, means_init)
    assert loaded.tol == 1e-4 and loaded.max_iter == 50 and loaded.random_state == 3
    assert_same_state(gm, loaded)


def test_minibatch_model_continues_partial_fit_exactly(blobs, path):
    X, _ = blobs
    gm = GaussianMixture(3, algorithm="minibatch", batch_size=100, random_state=0).fit(X)
    loaded = round_trip(gm, path)
    assert_same_state(gm, loaded)
    batch = as_dask(X[::-1], (150,) * 4)
    gm.partial_fit(batch)
    loaded.partial_fit(batch)
    assert_same_state(gm, loaded)


def test_minibatch_kmeans_round_trip_and_partial_fit(blobs, path):
    X, _ = blobs
    km = MiniBatchKMeans(3, batch_size=100, random_state=0).fit(X)
    km.partial_fit(X[:300])  # creates the random stream partial_fit draws from
    loaded = round_trip(km, path)
    assert_same_state(km, loaded)
    assert_array_equal(loaded.transform(X), km.transform(X))
    km.partial_fit(X[300:])
    loaded.partial_fit(X[300:])
    assert_same_state(km, loaded)


def test_minibatch_kmeans_fitted_on_dask_has_no_labels(blobs, tmp_path):
    X, _ = blobs
    km = MiniBatchKMeans(3, batch_size=100, random_state=0).fit(as_dask(X, (150,) * 4))
    assert not hasattr(km, "labels_")
    assert_same_state(km, round_trip(km, tmp_path / "model.nc"))


@pytest.mark.parametrize("n_components", [2, 0.9, None])
def test_incremental_pca_round_trip(blobs, path, n_components):
    X, _ = blobs
    ipca = IncrementalPCA(n_components=n_components, whiten=True).fit(X)
    loaded = round_trip(ipca, path)
    assert_same_state(ipca, loaded)
    assert_array_equal(loaded.transform(X), ipca.transform(X))
    ipca.partial_fit(X[:100])
    loaded.partial_fit(X[:100])
    assert_same_state(ipca, loaded)


def test_feature_names_are_kept_and_checked(blobs, tmp_path):
    X, _ = blobs
    frame = pd.DataFrame(X, columns=["height", "width", "depth"])
    gm = GaussianMixture(2, random_state=0).fit(frame)
    loaded = round_trip(gm, tmp_path / "model.nc")
    assert_array_equal(loaded.feature_names_in_, ["height", "width", "depth"])
    assert loaded.feature_names_in_.dtype == object
    assert_array_equal(loaded.predict(frame), gm.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame.rename(columns={"depth": "mass"}))


def test_xarray_feature_axis_survives_the_file(blobs, path):
    X, _ = blobs
    arr = xr.DataArray(X, dims=("time", "band"), coords={"band": ["r", "g", "b"]})
    gm = GaussianMixture(2, random_state=0).fit(arr)
    loaded = round_trip(gm, path)
    assert_same_state(gm, loaded)
    # the loaded model finds the features by name and label, in any order
    shuffled = arr.isel(band=[2, 0, 1]).transpose("band", "time")
    assert_array_equal(loaded.predict(shuffled).values, gm.predict(arr).values)


def test_ipca_fitted_on_xarray_inverts_to_the_same_labels(blobs, tmp_path):
    X, _ = blobs
    arr = xr.DataArray(X, dims=("time", "band"), coords={"band": ["r", "g", "b"]})
    ipca = IncrementalPCA(2).fit(arr)
    loaded = round_trip(ipca, tmp_path / "model.nc")
    back = loaded.inverse_transform(loaded.transform(arr))
    assert back.dims == ("time", "band")
    assert_array_equal(back["band"], ["r", "g", "b"])


def test_dataset_has_named_dimensions_and_a_header(blobs):
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    ds = model_to_dataset(gm)
    assert ds["means_"].dims == ("component", "feature")
    assert ds["covariances_"].dims == ("component", "feature", "feature2")
    assert ds["weights_"].dims == ("component",)
    assert ds.attrs["daskmix_format"] == FORMAT
    assert ds.attrs["daskmix_format_version"] == VERSION
    assert ds.attrs["daskmix_version"] == daskmix.__version__
    assert ds.attrs["estimator"] == "GaussianMixture"
    assert '"covariance_type": "full"' in ds.attrs["params"]
    assert ds.attrs["checksum"].startswith("sha256:")


def test_saved_file_is_plain_netcdf(blobs, tmp_path):
    """Any netCDF reader sees the arrays; daskmix needs nothing but xarray to read them."""
    X, _ = blobs
    gm = GaussianMixture(3, covariance_type="tied", random_state=0).fit(X)
    gm.save(tmp_path / "model.nc")
    with xr.open_dataset(tmp_path / "model.nc", engine="h5netcdf") as ds:
        assert ds["covariances_"].dims == ("feature", "feature2")
        assert_array_equal(ds["means_"].values, gm.means_)


def test_save_replaces_an_existing_model(blobs, path):
    X, _ = blobs
    GaussianMixture(2, random_state=0).fit(X).save(path)
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    gm.save(path)
    assert_same_state(gm, daskmix.load(path))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # nothing left behind


def test_loaded_model_is_lazy_on_dask_input(blobs, tmp_path):
    X, _ = blobs
    gm = GaussianMixture(3, random_state=0).fit(X)
    loaded = round_trip(gm, tmp_path / "model.nc")
    labels = loaded.predict(da.from_array(X, chunks=(100, 3)))
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), gm.predict(X))


@pytest.mark.parametrize("estimator", [GaussianMixture(2), MiniBatchKMeans(2),
                                       IncrementalPCA(2)], ids=type)
def test_unfitted_estimator_cannot_be_saved(estimator, tmp_path):
    with pytest.raises(NotFittedError):
        estimator.save(tmp_path / "model.nc")
    assert not (tmp_path / "model.nc").exists()


def test_parameter_a_file_cannot_hold_is_named(blobs, tmp_path):
    X, _ = blobs
    gm = GaussianMixture(2, random_state=np.random.RandomState(0)).fit(X)
    with pytest.raises(ValueError, match=r"random_state=.*set_params\(random_state=None\)"):
        gm.save(tmp_path / "model.nc")
    assert list(tmp_path.iterdir()) == []
