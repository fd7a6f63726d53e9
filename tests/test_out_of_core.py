"""Fitting straight from files: zarr, a memory-mapped .npy, parquet and CSV."""

from __future__ import annotations

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import zarr

from daskmix import GaussianMixture
from daskmix._validation import check_input
from tests.conftest import N_COMPONENTS, as_dask
from tests.mixture._stepwise_support import assert_same_model, fit_quietly

ALGORITHMS = {
    "em": dict(algorithm="em"),
    "minibatch": dict(algorithm="minibatch", batch_size=128, max_iter=2),
}


def fit(X, algorithm):
    return fit_quietly(
        GaussianMixture(N_COMPONENTS, covariance_type="diag", random_state=0,
                        **ALGORITHMS[algorithm]),
        X,
    )


@pytest.fixture(scope="module")
def blobs32(blobs):
    """The shared blobs in float32, the dtype large data sets are usually stored in."""
    return blobs[0].astype(np.float32)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_fit_from_zarr_matches_in_memory(blobs32, tmp_path, algorithm):
    path = str(tmp_path / "X.zarr")
    store = zarr.open_array(path, mode="w", shape=blobs32.shape, chunks=(100, 3),
                            dtype=blobs32.dtype)
    store[:] = blobs32
    X = da.from_zarr(path)
    assert X.numblocks == (6, 1)
    on_disk = fit(X, algorithm)
    # same chunks, so float32 rounding is the same
    assert_same_model(on_disk, fit(as_dask(blobs32, (100,) * 6), algorithm), rtol=1e-6)
    labels = on_disk.predict(X)
    assert isinstance(labels, da.Array)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_fit_from_memory_mapped_npy_matches_in_memory(blobs32, tmp_path, algorithm):
    path = tmp_path / "X.npy"
    np.save(path, blobs32)
    X = np.load(path, mmap_mode="r")
    assert_same_model(fit(X, algorithm), fit(blobs32, algorithm), rtol=1e-6)


def test_memory_map_is_not_copied(blobs32, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, blobs32)
    X = np.load(path, mmap_mode="r")
    data = check_input(None, X, reset=True, chunk_rows=200)
    views = data.array.map_blocks(
        lambda block: np.array([[np.shares_memory(block, X)]]), chunks=(1, 1), dtype=bool
    )
    # the tasks see views of the mapped file, read page by page when used
    assert views.compute().all()


# dask's parquet reader still passes inplace=True, which pandas 3.1 deprecates
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame")
@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_fit_from_parquet_matches_in_memory(blobs32, tmp_path, algorithm):
    frame = pd.DataFrame(blobs32, columns=["a", "b", "c"])
    dd.from_pandas(frame, npartitions=4).to_parquet(tmp_path / "X.parquet")
    X = dd.read_parquet(tmp_path / "X.parquet")
    on_disk = fit(X, algorithm)
    in_memory = as_dask(blobs32, X.to_dask_array(lengths=True).chunks[0])
    assert_same_model(on_disk, fit(in_memory, algorithm), rtol=1e-6)
    assert list(on_disk.feature_names_in_) == ["a", "b", "c"]


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_fit_from_csv_matches_in_memory(blobs, tmp_path, algorithm):
    frame = pd.DataFrame(blobs[0], columns=["a", "b", "c"])
    dd.from_pandas(frame, npartitions=3).to_csv(str(tmp_path / "part-*.csv"), index=False)
    X = dd.read_csv(str(tmp_path / "part-*.csv"))
    expected = pd.concat(pd.read_csv(p) for p in sorted(tmp_path.glob("part-*.csv")))
    assert_same_model(fit(X, algorithm), fit(expected.to_numpy(), algorithm), rtol=1e-8)
