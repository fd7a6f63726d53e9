"""Sharded model stores on a real cluster: blocks written by worker tasks, predicted there."""

from __future__ import annotations

import os

import dask
import numpy as np
from dask.utils import key_split
from distributed import get_task_stream
from numpy.testing import assert_allclose, assert_array_equal

import daskmix
from daskmix import GaussianMixture
from daskmix._model_io import _sharded
from tests.distributed._fits import as_dask, blobs


def test_blocks_written_by_workers_load_lazily_and_predict_on_the_cluster(cluster, tmp_path):
    _, client = cluster
    X = blobs(n_samples=2000)
    model = GaussianMixture(7, covariance_type="full", random_state=0, tol=1e-2).fit(X)
    path = tmp_path / "model.zarr"
    store = _sharded.create_store(model, path, _sharded.component_blocks(7, 3))
    # each block is written by a task on a worker process, as a model-parallel fit's
    with get_task_stream(client) as writes:
        futures = [
            client.submit(_sharded.write_block, store, b,
                          {name: getattr(model, name)[a:z] for name in store.variables},
                          pure=False)
            for b, (a, z) in enumerate(store.blocks)
        ]
        digests = client.gather(futures)
    assert len([t for t in writes.data if key_split(t["key"]) == "write_block"]) == 3
    _sharded.finalize_store(store, digests)
    assert os.path.isdir(path) and not os.path.exists(store.tmp)

    lazy = daskmix.load(path)
    X_dask = as_dask(X, 250)
    with client.as_current(), dask.config.set(scheduler=client), \
            get_task_stream(client) as stream:
        labels = lazy.predict(X_dask).compute()
        proba = lazy.predict_proba(X_dask).compute()
        scores = lazy.score_samples(X_dask).compute()
    assert_array_equal(labels, model.predict(X))
    assert_allclose(proba, model.predict_proba(X), rtol=1e-10, atol=1e-300)
    assert_allclose(scores, model.score_samples(X), rtol=1e-10)
    # the (row chunk, block) tasks ran on both workers, under daskmix's names
    names = {key_split(t["key"]) for t in stream.data}
    assert {"daskmix-gmm-shift-block", "daskmix-gmm-predict-block",
            "daskmix-gmm-predict-proba-block"} <= names, names
    blocks = [t for t in stream.data if key_split(t["key"]) == "daskmix-gmm-predict-block"]
    assert len({t["worker"] for t in blocks}) == 2
    assert np.unique(labels).size > 1
