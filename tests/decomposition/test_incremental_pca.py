"""IncrementalPCA against scikit-learn, invariances, graph shape and input kinds."""

from __future__ import annotations

import itertools

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dask.core import get_dependencies
from dask.utils import key_split
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA
from sklearn.decomposition import IncrementalPCA as SkIncrementalPCA
from sklearn.pipeline import make_pipeline

from daskmix import GaussianMixture, IncrementalPCA
from daskmix._dask import graph as _graph
from tests.conftest import CHUNK_LAYOUTS, ComputeCounter, as_dask

#: Attributes compared with scikit-learn (components separately, up to sign).
SPECTRUM = ("explained_variance_", "explained_variance_ratio_", "singular_values_", "mean_")


@pytest.fixture(scope="module")
def blobs10():
    """20,000 x 10 blobs around 3 centres, correlated and offset (the issue's shape)."""
    X, _ = make_blobs(20_000, n_features=10, centers=3, random_state=0)
    rng = np.random.RandomState(2)
    return X @ (np.eye(10) + 0.3 * rng.randn(10, 10)) + 20.0


def assert_same_components(a, b, rtol=1e-8):
    """Rows of ``a`` and ``b`` equal up to the sign of each row."""
    signs = np.sign(np.sum(a * b, axis=1))[:, None]
    assert_allclose(a * signs, b, rtol=rtol, atol=rtol * np.abs(b).max())


def assert_same_pca(ours, reference, rtol=1e-8, attributes=SPECTRUM):
    """Every fitted attribute of ``ours`` matches ``reference`` to ``rtol``."""
    assert ours.n_components_ == reference.n_components_
    assert_same_components(ours.components_, reference.components_, rtol)
    for name in attributes:
        assert_allclose(getattr(ours, name), getattr(reference, name), rtol=rtol, err_msg=name)
    assert_allclose(ours.noise_variance_, reference.noise_variance_, rtol=rtol)


# ---- the two equivalences ----------------------------------------------------------
#: Batch boundaries: ragged sizes, and late batches smaller than n_components and
#: than n_features (scikit-learn's stacked matrix then has fewer rows than columns).
BATCH_BOUNDS = (0, 2_000, 2_500, 9_000, 9_004, 9_005, 15_000, 20_000)


@pytest.mark.parametrize("n_components", [3, None])
@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_partial_fit_matches_sklearn_fed_the_same_batches(blobs10, n_components, kind):
    ours, theirs = IncrementalPCA(n_components), SkIncrementalPCA(n_components)
    for start, stop in itertools.pairwise(BATCH_BOUNDS):
        batch = blobs10[start:stop]
        ours.partial_fit(batch if kind == "numpy" else da.from_array(batch, chunks=700))
        theirs.partial_fit(batch)
        assert_same_pca(ours, theirs, attributes=SPECTRUM + ("var_",))
    assert ours.n_samples_seen_ == theirs.n_samples_seen_ == len(blobs10)


@pytest.mark.parametrize("n_components", [3, None, 0.5, 0.99])
def test_fit_on_dask_is_the_exact_pca(blobs10, n_components):
    X = da.from_array(blobs10, chunks=(1_500, 10))
    ours = IncrementalPCA(n_components).fit(X)
    exact = PCA(n_components, svd_solver="full").fit(blobs10)
    assert_same_pca(ours, exact)
    assert_allclose(ours.var_, blobs10.var(axis=0), rtol=1e-12)
    assert ours.n_samples_seen_ == len(blobs10)


def test_fit_is_not_sklearns_truncating_fit(blobs10):
    """The two references differ by far more than the tolerance the tests use."""
    exact = PCA(3, svd_solver="full").fit(blobs10)
    truncating = SkIncrementalPCA(3, batch_size=1_500).fit(blobs10)
    ours = IncrementalPCA(3, batch_size=1_500).fit(blobs10)
    gap = np.abs(truncating.explained_variance_ / exact.explained_variance_ - 1).max()
    assert gap > 1e-6
    assert np.abs(ours.explained_variance_ / exact.explained_variance_ - 1).max() < 1e-3 * gap


def test_partial_fit_keeps_the_fraction_chosen_on_the_first_batch(blobs10):
    ipca = IncrementalPCA(0.9)
    ipca.partial_fit(blobs10[:3_000])
    assert ipca.n_components_ == PCA(0.9, svd_solver="full").fit(blobs10[:3_000]).n_components_
    ipca.partial_fit(blobs10[3_000:6_000])
    reference = SkIncrementalPCA(ipca.n_components_).partial_fit(blobs10[:3_000])
    reference.partial_fit(blobs10[3_000:6_000])
    assert_same_pca(ipca, reference)


def test_partial_fit_continues_from_fit(blobs10):
    ipca = IncrementalPCA(3).fit(blobs10[:10_000])
    ipca.partial_fit(blobs10[10_000:])
    # scikit-learn's update applied to the exact state of the first half
    first = PCA(3, svd_solver="full").fit(blobs10[:10_000])
    reference = SkIncrementalPCA(3)
    for name in ("components_", "singular_values_", "mean_", "explained_variance_"):
        setattr(reference, name, getattr(first, name))
    reference.n_samples_seen_ = 10_000
    reference.var_ = blobs10[:10_000].var(axis=0)
    reference.n_features_in_ = 10
    reference.partial_fit(blobs10[10_000:])
    assert_same_pca(ipca, reference)


# ---- invariances -----------------------------------------------------------------
def test_fit_does_not_depend_on_chunking(blobs, chunk_layout):
    X, _ = blobs
    _name, chunks = chunk_layout
    ours = IncrementalPCA(2).fit(as_dask(X, chunks))
    one_chunk = IncrementalPCA(2).fit(as_dask(X, CHUNK_LAYOUTS["one-chunk"]))
    assert_same_pca(ours, one_chunk, rtol=1e-12)
    assert_same_pca(ours, PCA(2, svd_solver="full").fit(X))


@pytest.mark.parametrize("split_every", [2, 3])
def test_split_every_does_not_change_the_fit(blobs, split_every):
    X, _ = blobs
    Xd = as_dask(X, CHUNK_LAYOUTS["ragged"])
    assert_same_pca(IncrementalPCA(2, split_every=split_every).fit(Xd),
                    IncrementalPCA(2).fit(Xd), rtol=1e-12)


def test_batch_size_sets_the_chunks_of_in_memory_input_only(blobs):
    X, _ = blobs
    small = IncrementalPCA(2, batch_size=97).fit(X)
    assert small.batch_size_ == 97
    assert_same_pca(small, IncrementalPCA(2).fit(X), rtol=1e-12)
    # dask input keeps its chunks: they are the batches
    dask_fit = IncrementalPCA(2, batch_size=97).fit(as_dask(X, (150,) * 4))
    assert dask_fit.batch_size_ == 150


def test_float32_stays_float32(blobs10):
    X32 = blobs10.astype(np.float32)
    ipca = IncrementalPCA(3).fit(da.from_array(X32, chunks=(3_000, 10)))
    for name in ("components_", "explained_variance_", "singular_values_", "mean_", "var_"):
        assert getattr(ipca, name).dtype == np.float32, name
    exact = PCA(3, svd_solver="full").fit(X32.astype(np.float64))
    assert_same_pca(ipca, exact, rtol=1e-4)
    projected = ipca.transform(da.from_array(X32, chunks=(3_000, 10)))
    assert projected.dtype == np.float32
    assert_allclose(np.abs(projected.compute()), np.abs(exact.transform(X32)),
                    rtol=1e-3, atol=1e-3 * np.abs(exact.transform(X32)).max())


# ---- outputs follow the input ------------------------------------------------------
@pytest.mark.parametrize("whiten", [False, True])
def test_dask_in_lazy_dask_out(blobs10, whiten):
    Xd = da.from_array(blobs10, chunks=(4_000, 10))
    ipca = IncrementalPCA(3, whiten=whiten).fit(Xd)
    exact = PCA(3, whiten=whiten, svd_solver="full").fit(blobs10)
    signs = np.sign(np.sum(ipca.components_ * exact.components_, axis=1))
    with ComputeCounter() as counter:
        projected = ipca.transform(Xd)
        restored = ipca.inverse_transform(projected)
    assert counter.count == 0
    assert isinstance(projected, da.Array) and isinstance(restored, da.Array)
    assert projected.chunks == (Xd.chunks[0], (3,))
    expected = exact.transform(blobs10)
    assert_allclose(projected.compute() * signs, expected, rtol=1e-8,
                    atol=1e-8 * np.abs(expected).max())
    assert_allclose(restored.compute(), exact.inverse_transform(expected), rtol=1e-8)


def test_numpy_in_numpy_out_and_full_rank_round_trip(blobs):
    X, _ = blobs
    ipca = IncrementalPCA().fit(X)
    projected = ipca.transform(X)
    assert isinstance(projected, np.ndarray) and projected.shape == (len(X), 3)
    assert_allclose(ipca.inverse_transform(projected), X, rtol=1e-10)
    assert_array_equal(ipca.get_feature_names_out(),
                       ["incrementalpca0", "incrementalpca1", "incrementalpca2"])


def test_fit_transform_is_lazy_on_dask(blobs):
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    with ComputeCounter() as counter:
        projected = IncrementalPCA(2).fit_transform(Xd)
    assert counter.count == 1  # the fit's one pass; the projection is lazy
    assert isinstance(projected, da.Array)
    assert_allclose(projected.compute(), IncrementalPCA(2).fit(X).transform(X), rtol=1e-10)


@pytest.mark.parametrize("lazy", [False, True])
def test_xarray_round_trip(blobs, lazy):
    X, _ = blobs
    samples = pd.date_range("2026-01-01", periods=len(X), freq="h")
    arr = xr.DataArray(X, dims=("time", "band"),
                       coords={"time": samples, "band": ["r", "g", "b"]})
    if lazy:
        arr = arr.chunk({"time": 200})
    ipca = IncrementalPCA(2).fit(arr)
    assert_same_pca(ipca, PCA(2, svd_solver="full").fit(X))
    projected = ipca.transform(arr)
    assert isinstance(projected, xr.DataArray)
    assert projected.dims == ("time", "component")
    assert_array_equal(projected["time"], samples)
    assert_array_equal(projected["component"], [0, 1])
    assert isinstance(projected.data, da.Array) == lazy
    restored = ipca.inverse_transform(projected)
    assert restored.dims == ("time", "band")
    assert_array_equal(restored["band"], ["r", "g", "b"])
    assert_array_equal(restored["time"], samples)
    assert isinstance(restored.data, da.Array) == lazy
    assert_allclose(restored.values, ipca.inverse_transform(ipca.transform(X)), rtol=1e-12)


def test_dataframes_keep_feature_names(blobs):
    X, _ = blobs
    df = pd.DataFrame(X, columns=["x", "y", "z"])
    ipca = IncrementalPCA(2).fit(dd.from_pandas(df, npartitions=3))
    assert_array_equal(ipca.feature_names_in_, ["x", "y", "z"])
    assert_same_pca(ipca, PCA(2, svd_solver="full").fit(X))
    assert isinstance(ipca.transform(df), np.ndarray)
    with pytest.raises(ValueError, match="feature names"):
        ipca.transform(df.rename(columns={"x": "other"}))


def test_pipeline_on_dask_runs_lazily(blobs):
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    pipeline = make_pipeline(IncrementalPCA(2), GaussianMixture(3, random_state=0))
    labels = pipeline.fit(Xd).predict(Xd)
    assert isinstance(labels, da.Array)
    in_memory = make_pipeline(IncrementalPCA(2), GaussianMixture(3, random_state=0)).fit(X)
    assert_array_equal(labels.compute(), in_memory.predict(X))


# ---- graph shape -------------------------------------------------------------------
def test_fit_and_partial_fit_are_one_compute_each(blobs):
    X, _ = blobs
    Xd = as_dask(X, CHUNK_LAYOUTS["ragged"])
    with ComputeCounter() as counter:
        ipca = IncrementalPCA(2).fit(Xd)
    assert counter.count == 1
    with ComputeCounter() as counter:
        ipca.partial_fit(Xd[:300])
        ipca.partial_fit(Xd[300:])
    assert counter.count == 2


class KeyRecorder(dask.callbacks.Callback):
    """Records the key names of every graph computed."""

    def __init__(self):
        super().__init__()
        self.names = set()

    def _start(self, dsk):
        self.names.update(key_split(k) for k in dsk)


def test_every_task_daskmix_builds_is_named_daskmix(blobs):
    X, _ = blobs
    Xd = da.from_array(X, chunks=(150, 3), name="user-data")
    with KeyRecorder() as recorder:
        ipca = IncrementalPCA(2).fit(Xd)
        ipca.partial_fit(Xd)
        ipca.transform(Xd).compute()
        ipca.inverse_transform(ipca.transform(Xd)).compute()
    ours = {n for n in recorder.names if n != "user-data" and not n.startswith("finalize-")}
    assert all(n.startswith("daskmix-") or "-daskmix-" in n for n in ours), ours
    for expected in ("daskmix-ipca-moments", "daskmix-ipca-moments-aggregate",
                     "daskmix-ipca-transform", "daskmix-ipca-inverse-transform"):
        assert expected in recorder.names


@pytest.mark.parametrize("split_every", [2, 3, 8])
def test_moments_are_merged_in_a_tree(blobs, split_every, monkeypatch):
    X, _ = blobs
    Xd = as_dask(X, (30,) * 20)
    graph = {}
    compute = _graph.compute

    def capture(*collections, scheduler=None):
        graph.update(dict(collections[0].__dask_graph__()))
        return compute(*collections, scheduler=scheduler)

    monkeypatch.setattr(_graph, "compute", capture)
    IncrementalPCA(2, split_every=split_every).fit(Xd)
    merges = [k for k in graph if key_split(k).startswith("daskmix-ipca-moments-")]
    assert merges
    assert max(len(get_dependencies(graph, k)) for k in merges) <= split_every

    def depth(key):
        deps = [d for d in get_dependencies(graph, key) if d in set(merges)]
        return 1 + max((depth(d) for d in deps), default=0)

    # a tree: depth about log(n_blocks) / log(split_every), not n_blocks
    assert max(depth(k) for k in merges) <= np.ceil(np.log(20) / np.log(split_every)) + 1


def test_moments_graph_is_deterministic(blobs, monkeypatch):
    X, _ = blobs
    Xd = da.from_array(X, chunks=(150, 3), name="user-data")
    names = []
    compute = _graph.compute

    def record(*collections, scheduler=None):
        names.append(collections[0].name)
        return compute(*collections, scheduler=scheduler)

    monkeypatch.setattr(_graph, "compute", record)
    with dask.config.set({"tokenize.ensure-deterministic": True}):
        IncrementalPCA(2, split_every=2).fit(Xd)
        IncrementalPCA(2, split_every=2).fit(Xd)
    assert len(names) == 2 and names[0] == names[1]
