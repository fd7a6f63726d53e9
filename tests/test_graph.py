"""Graph shape: named layers, one compute per iteration, tree reductions, determinism."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask.base import tokenize
from dask.core import get_dependencies
from dask.utils import key_split

from daskmix import GaussianMixture
from daskmix._dask import graph as _graph
from daskmix.mixture._params import GaussianParams, estep_params
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture.kernels.suffstats import StatsLayout, chunk_em_stats
from tests.conftest import ComputeCounter


@pytest.fixture(scope="module")
def X():
    """Two blobs, 1,000 rows in 20 chunks."""
    rng = np.random.RandomState(0)
    data = np.vstack([rng.randn(500, 2), rng.randn(500, 2) + 6])
    return da.from_array(data, chunks=(50, 2), name="user-data")


def explicit_init():
    return dict(means_init=[[0.0, 0.0], [6.0, 6.0]], weights_init=[0.5, 0.5],
                precisions_init=[np.eye(2), np.eye(2)])


def estep_graph(X, split_every):
    covariance = get_covariance_type("full")
    params = GaussianParams(np.array([0.5, 0.5]), np.array([[0.0, 0.0], [6.0, 6.0]]),
                            np.stack([np.eye(2)] * 2), np.stack([np.eye(2)] * 2))
    layout = StatsLayout(2, 2, covariance.second_moment_shape(2, 2))
    return _graph.reduce_blocks(
        X, None, chunk_em_stats, size=layout.size, name="gmm-estep", split_every=split_every,
        params=estep_params(covariance, params, X.dtype), layout=layout,
    )


def test_one_compute_per_em_iteration(X):
    with ComputeCounter() as counter:
        gm = GaussianMixture(2, tol=1e-8, max_iter=7, **explicit_init())
        gm.fit(X)
    assert counter.count == gm.n_iter_ >= 3


def test_kmeans_initialisation_has_a_bounded_number_of_passes(X):
    with ComputeCounter() as counter:
        gm = GaussianMixture(2, random_state=0).fit(X)
    # the row sample (k-means runs on it in the client); the statistics of
    # the chosen run's partition; then one per iteration
    assert counter.count == 1 + 1 + gm.n_iter_


class KeyRecorder(dask.callbacks.Callback):
    """Records the key names of every graph computed."""

    def __init__(self):
        super().__init__()
        self.names = set()

    def _start(self, dsk):
        self.names.update(key_split(k) for k in dsk)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_task_daskmix_builds_is_named_daskmix(X, init_params):
    with KeyRecorder() as recorder:
        gm = GaussianMixture(2, init_params=init_params, random_state=0).fit(
            X, sample_weight=da.ones(X.shape[0], chunks=50)
        )
        gm.predict(X).compute()
        gm.predict_proba(X).compute()
        gm.score_samples(X).compute()
    # the user's own layers, dask's final gather task, and fused layers that
    # keep the daskmix name they end with
    ours = {n for n in recorder.names
            if n not in {"user-data", "ones_like"} and not n.startswith("finalize-")}
    assert ours
    assert all(n.startswith("daskmix-") or "-daskmix-" in n for n in ours), ours
    for expected in ("daskmix-gmm-estep-partial", "daskmix-gmm-estep-aggregate",
                     "daskmix-gmm-predict",
                     "daskmix-gmm-predict-proba", "daskmix-gmm-score-samples"):
        assert expected in recorder.names


@pytest.mark.parametrize("split_every", [2, 3, 8])
def test_statistics_are_combined_in_a_tree(X, split_every):
    stats = estep_graph(X, split_every)
    dsk = dict(stats.__dask_graph__())
    sums = [k for k in dsk if key_split(k).startswith("daskmix-gmm-estep-")]
    assert sums
    fan_in = max(len(get_dependencies(dsk, k)) for k in sums)
    assert fan_in <= split_every

    def depth(key):
        deps = [d for d in get_dependencies(dsk, key) if d in set(sums)]
        return 1 + max((depth(d) for d in deps), default=0)

    # a tree: depth about log(n_blocks) / log(split_every), not n_blocks
    n_blocks = X.numblocks[0]
    assert max(depth(k) for k in sums) <= np.ceil(np.log(n_blocks) / np.log(split_every)) + 1


def test_graphs_are_deterministic(X):
    with dask.config.set({"tokenize.ensure-deterministic": True}):
        a = estep_graph(X, 4)
        b = estep_graph(X, 4)
        assert a.name == b.name
        assert tokenize(a) == tokenize(b)


def _blas_threads_in_task(block):
    from threadpoolctl import threadpool_info

    return np.array([[min(i["num_threads"] for i in threadpool_info()
                          if i["user_api"] == "blas")]])


def test_blas_is_single_threaded_under_the_threaded_scheduler():
    X = da.ones((4, 2), chunks=2)
    probe = X.map_blocks(_blas_threads_in_task, chunks=(1, 1))
    with dask.config.set(scheduler="threads"):
        (threads,) = _graph.compute(probe)
    assert threads.max() == 1
