"""Sharded model stores: written block by block, loaded lazily, predicted block by block.

The reference is the fitted in-memory model itself: a lazily loaded
sharded copy must give its ``predict`` exactly and its ``predict_proba``,
``score_samples`` and ``score`` to 1e-10 (relative, float64), whatever
the number of blocks, including numbers that do not divide
``n_components``.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import warnings

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import daskmix
from daskmix import BayesianGaussianMixture, GaussianMixture
from daskmix._model_io import _sharded
from daskmix.exceptions import ModelFileError
from daskmix.mixture.variational import WISHART_TYPES
from tests._covariance_cases import ALL_TYPES, covariance_settings
from tests.conftest import as_dask
from tests.model_io._support import assert_same_state

#: Components of the test models: 2 and 3 blocks do not divide it.
N_COMPONENTS = 5

CASES = ([("gmm", t) for t in ALL_TYPES]
         + [("bgmm", t) for t in sorted(WISHART_TYPES)])

#: The per-component arrays a sharded store splits into blocks.
BLOCK_ARRAYS = {"means_", "covariances_", "precisions_", "precisions_cholesky_",
                "loadings_", "noise_variance_"}

_FITTED = {}


def fitted(blobs, kind, covariance_type):
    """A fitted model of ``kind`` ("gmm" or "bgmm"), cached for the module's tests."""
    key = (kind, covariance_type)
    if key not in _FITTED:
        X, _ = blobs
        settings = covariance_settings(covariance_type)
        settings["max_iter"] = min(settings.get("max_iter", 100), 30)
        cls = GaussianMixture if kind == "gmm" else BayesianGaussianMixture
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a short fit: convergence does not matter here
            _FITTED[key] = cls(N_COMPONENTS, random_state=0, **settings).fit(X)
    return _FITTED[key]


@pytest.mark.parametrize(
    ("kind", "covariance_type", "shards"),
    # 2 and 3 blocks do not divide the 5 components; 1 and 5 are the extremes
    [(kind, t, 3) for kind, t in CASES]
    + [("gmm", "full", 1), ("gmm", "factor", 2), ("bgmm", "full", 2),
       ("bgmm", "full", N_COMPONENTS)],
)
def test_lazy_model_predicts_as_the_in_memory_one(blobs, kind, covariance_type, shards,
                                                  tmp_path):
    X, _ = blobs
    model = fitted(blobs, kind, covariance_type)
    path = tmp_path / "model.zarr"
    model.save(path, shards=shards)
    lazy = daskmix.load(path)
    assert lazy._sharded()
    X_dask = as_dask(X, (200, 250, 150))
    labels = lazy.predict(X_dask)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), model.predict(X))
    assert_allclose(lazy.predict_proba(X_dask).compute(), model.predict_proba(X),
                    rtol=1e-10, atol=1e-300)
    assert_allclose(lazy.score_samples(X), model.score_samples(X), rtol=1e-10)
    assert lazy.score(X_dask) == pytest.approx(model.score(X), rel=1e-10)


@pytest.mark.parametrize("shards", [2, 3])
def test_loaded_arrays_are_dask_arrays_with_one_chunk_per_block(blobs, shards, tmp_path):
    model = fitted(blobs, "gmm", "factor")
    model.save(tmp_path / "model.zarr", shards=shards)
    lazy = daskmix.load(tmp_path / "model.zarr")
    sizes = tuple(b - a for a, b in _sharded.component_blocks(N_COMPONENTS, shards))
    assert len(sizes) == shards
    for name in BLOCK_ARRAYS:
        value = getattr(lazy, name)
        assert isinstance(value, da.Array), name
        assert value.chunks[0] == sizes, name
        assert all(len(c) == 1 for c in value.chunks[1:]), name
        assert_array_equal(value.compute(), getattr(model, name), strict=True)
    # O(n_components) arrays and everything else are in memory
    assert isinstance(lazy.weights_, np.ndarray)
    assert_array_equal(lazy.weights_, model.weights_)
    with pytest.raises(NotImplementedError, match="lazy=False"):
        lazy.sample(3)


@pytest.mark.parametrize(("kind", "covariance_type"), CASES)
def test_eager_load_gives_the_original_model(blobs, kind, covariance_type, tmp_path):
    model = fitted(blobs, kind, covariance_type)
    model.save(tmp_path / "model.zarr", shards=3)
    loaded = daskmix.load(tmp_path / "model.zarr", lazy=False)
    assert_same_state(model, loaded)
    assert loaded.get_params() == model.get_params()


def test_each_task_reads_one_block(blobs, tmp_path):
    """A (row chunk, block) task reads its own block: no task of the graph holds a block
    for others, and each row task is given one block index."""
    X, _ = blobs
    model = fitted(blobs, "gmm", "full")
    model.save(tmp_path / "model.zarr", shards=3)
    lazy = daskmix.load(tmp_path / "model.zarr")
    result = lazy.predict_proba(as_dask(X, (300, 300)))
    graph = dict(result.__dask_graph__())
    from dask.core import get_dependencies
    from dask.utils import key_split

    assert not [k for k in graph if "read-block" in key_split(k)]
    for layer in ("daskmix-gmm-predict-proba-block", "daskmix-gmm-predict-proba-block-resp"):
        tasks = [k for k in graph if key_split(k) == layer]
        assert sorted(k[1:] for k in tasks) == [(i, b) for i in range(2) for b in range(3)]
        for key in tasks:
            indices = [k for k in get_dependencies(graph, key)
                       if key_split(k) == "daskmix-block-index"]
            assert [k[1] for k in indices] == [key[2]]


# ---- writing by blocks, and the failures loading must name ------------------------------


def _blocks_of(model, store):
    return [{name: getattr(model, name)[a:b] for name in store.variables}
            for a, b in store.blocks]


def test_blocks_written_in_any_order_by_the_writer_api(blobs, tmp_path):
    """The client needs only the blocks' shapes: a model-parallel fit's holds no block."""
    X, _ = blobs
    model = fitted(blobs, "bgmm", "diag")
    path = tmp_path / "model.zarr"
    client_side = copy.copy(model)
    for name in BLOCK_ARRAYS & set(vars(model)):
        value = getattr(model, name)
        if value.ndim >= 2:
            setattr(client_side, name, _sharded.placeholder(value.shape, value.dtype))
    store = _sharded.create_store(client_side, path,
                                  _sharded.component_blocks(N_COMPONENTS, 2))
    assert set(store.variables) == {"means_", "covariances_", "precisions_",
                                    "precisions_cholesky_"}
    assert not path.exists()  # nothing at the path until finalized
    slices = _blocks_of(model, store)
    digests = {b: _sharded.write_block(store, b, slices[b]) for b in (1, 0)}
    _sharded.finalize_store(store, [digests[0], digests[1]])
    assert not os.path.exists(store.tmp)
    assert_allclose(daskmix.load(path).predict_proba(X), model.predict_proba(X), rtol=1e-10)


def test_a_block_written_by_pieces_is_the_block_written_whole(blobs, tmp_path):
    """Pieces on chunk boundaries (a writer holding one at a time) give the same files."""
    model = fitted(blobs, "gmm", "full")
    stores = [_sharded.create_store(model, tmp_path / f"{name}.zarr",
                                    _sharded.component_blocks(N_COMPONENTS, 2))
              for name in ("whole", "pieces")]
    whole, pieces = stores
    slices = _blocks_of(model, whole)
    ranges = _sharded.piece_ranges(pieces, 0, 1)
    assert ranges[0] == (0, pieces.chunk) and ranges[-1][1] == slices[0]["means_"].shape[0]
    by_pieces = _sharded.write_block(
        pieces, 0, ((a, {name: v[a:b] for name, v in slices[0].items()}) for a, b in ranges))
    assert by_pieces == _sharded.write_block(whole, 0, slices[0])
    with pytest.raises(ValueError, match="cover it in order"):
        _sharded.write_block(pieces, 1, [(1, {n: v[1:] for n, v in slices[1].items()})])
    with pytest.raises(ValueError, match="cover 1 of its"):
        _sharded.write_block(pieces, 1, [(0, {n: v[:1] for n, v in slices[1].items()})])
    for store in stores:
        _sharded.abort_store(store)


def test_a_block_never_written_cannot_be_finalized(blobs, tmp_path):
    model = fitted(blobs, "gmm", "diag")
    path = tmp_path / "model.zarr"
    store = _sharded.create_store(model, path, _sharded.component_blocks(N_COMPONENTS, 3))
    slices = _blocks_of(model, store)
    digests = [_sharded.write_block(store, b, slices[b]) for b in (0, 2)]
    with pytest.raises(ModelFileError, match=r"blocks \[2\] were not written"):
        _sharded.finalize_store(store, digests)
    assert not path.exists()
    # the unfinished store, wherever it is, does not load as a model
    with pytest.raises(ModelFileError, match="never finalized"):
        daskmix.load(store.tmp)
    with pytest.raises(ModelFileError, match="never finalized"):
        daskmix.load(store.tmp, lazy=False)


def test_a_failed_save_leaves_no_store(blobs, tmp_path, monkeypatch):
    model = fitted(blobs, "gmm", "full")

    def fail(store, index, arrays):
        raise OSError("disk full")

    monkeypatch.setattr(_sharded, "write_block", fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "model.zarr", shards=2)
    assert os.listdir(tmp_path) == []


def test_a_missing_block_is_named(blobs, tmp_path):
    model = fitted(blobs, "gmm", "full")
    path = tmp_path / "model.zarr"
    model.save(path, shards=3)
    # one chunk per component: 5 components in blocks of 2, 2 and 1
    shutil.rmtree(path / "precisions_cholesky_" / "c" / "2")
    for lazy in (True, False):
        with pytest.raises(ModelFileError, match=r"block 1 \(components 2 to 3\) of "
                                                 r"'precisions_cholesky_' is missing"):
            daskmix.load(path, lazy=lazy)


def _damage(path):
    with open(path, "r+b") as f:
        f.seek(17)
        byte = f.read(1)
        f.seek(17)
        f.write(bytes([byte[0] ^ 0x5A]))


def test_a_damaged_block_is_found_when_read(blobs, tmp_path):
    X, _ = blobs
    model = fitted(blobs, "gmm", "full")
    path = tmp_path / "model.zarr"
    model.save(path, shards=3)
    chunk = path / "precisions_cholesky_" / "c" / "4"
    _damage(next(p for p in chunk.rglob("*") if p.is_file()))
    lazy = daskmix.load(path)  # the blocks are read by the tasks that need them
    with pytest.raises(ModelFileError, match=r"block 2 \(components 4 to 4\) of "
                                             r"'precisions_cholesky_' does not match"):
        lazy.predict(X)
    with pytest.raises(ModelFileError, match="damaged"):
        daskmix.load(path, lazy=False)


def test_damage_outside_the_blocks_is_found_on_load(blobs, tmp_path):
    model = fitted(blobs, "gmm", "diag")
    path = tmp_path / "model.zarr"
    model.save(path, shards=2)
    _damage(next(p for p in (path / "weights_").rglob("*") if p.is_file() and
                 p.name != "zarr.json"))
    with pytest.raises(ModelFileError, match="outside the blocks"):
        daskmix.load(path)


def test_damaged_root_attributes_are_found_on_load(blobs, tmp_path):
    model = fitted(blobs, "gmm", "diag")
    path = tmp_path / "model.zarr"
    model.save(path, shards=2)
    meta = json.loads((path / "zarr.json").read_text())
    fitted_values = json.loads(meta["attributes"]["fitted"])
    fitted_values["n_iter_"] += 1
    meta["attributes"]["fitted"] = json.dumps(fitted_values, sort_keys=True)
    (path / "zarr.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="checksum"):
        daskmix.load(path)


def test_blocks_must_cover_the_components():
    with pytest.raises(ValueError, match="between 1 and n_components=5"):
        _sharded.component_blocks(5, 6)
    assert _sharded.component_blocks(5, 2) == ((0, 3), (3, 5))


def test_shards_need_a_zarr_path(blobs, tmp_path):
    model = fitted(blobs, "gmm", "diag")
    with pytest.raises(ValueError, match=r"\.zarr"):
        model.save(tmp_path / "model.nc", shards=2)


def test_blocks_read_through_zarr_equal_the_direct_reads(blobs, tmp_path, monkeypatch):
    """The direct read of plain chunk files and zarr's read give the same blocks."""
    model = fitted(blobs, "gmm", "full")
    model.save(tmp_path / "model.zarr", shards=3)
    _, layout = _sharded.open_store(tmp_path / "model.zarr")
    direct = [_sharded.read_block(layout, "precisions_", b) for b in range(3)]
    monkeypatch.setattr(_sharded, "_read_plain", lambda *args: None)
    for b in range(3):
        assert_array_equal(_sharded.read_block(layout, "precisions_", b), direct[b],
                           strict=True)
    assert_array_equal(np.concatenate(direct), model.precisions_)
