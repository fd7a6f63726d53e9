"""ESVI with ``model_store``: the fitted model written block by block from the workers.

- the stored fit equals the gathered one (``model_store=None``, same
  ``random_state``) to 1e-10: attributes, ``predict``, ``score_samples``;
  its per-component attributes are the store's lazy dask arrays, and
  ``daskmix.load`` of the store gives the same model;
- the client never builds the ``K`` full covariances: a spy on the full
  covariance type in the client process (the workers are other processes)
  records the most components it was called with; the gathered fit, which
  publishes them in the client, is the spy's positive control;
- a bad path, or another algorithm, is refused before any work;
- a worker lost while the blocks are written leaves no store and the
  estimator as it was.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
import warnings

import dask
import numpy as np
import pytest
from dask.utils import key_split
from distributed import get_task_stream
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs

import daskmix
from daskmix import BayesianGaussianMixture
from daskmix._dask.graph import is_dask_array
from daskmix.exceptions import WorkerLostError
from daskmix.mixture import _bayesian_mixture
from daskmix.mixture.covariance import get_covariance_type
from tests.distributed._fits import as_dask

K = 6
SETTINGS = dict(n_components=K, random_state=0, max_iter=4, tol=0.0,
                weight_concentration_prior_type="dirichlet_distribution",
                algorithm="esvi", n_active=3)
POSTERIOR = ("weights_", "weight_concentration_", "mean_precision_", "degrees_of_freedom_",
             "means_", "covariances_", "precisions_", "precisions_cholesky_")


def _blobs():
    X, _ = make_blobs(1200, n_features=3, centers=6, cluster_std=1.0, center_box=(-8, 8),
                      random_state=0)
    return X


class _Spy:
    """The most components the full covariance type's maths saw in this process."""

    def __init__(self, monkeypatch):
        self.largest = 0
        cls = type(get_covariance_type("full"))
        for name in ("precision_cholesky", "precisions_from_cholesky", "fitted_attributes",
                     "covariances_from_cholesky"):
            original = getattr(cls, name)
            monkeypatch.setattr(cls, name, self._wrap(original))

    def _wrap(self, original):
        def spied(covariance, *args, **kwargs):
            for value in args:
                if np.ndim(value) == 3:
                    self.largest = max(self.largest, np.shape(value)[0])
            return original(covariance, *args, **kwargs)
        return spied


def _fit(client, **kwargs):
    with client.as_current(), dask.config.set(scheduler=client), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BayesianGaussianMixture(**{**SETTINGS, **kwargs}).fit(as_dask(_blobs(), 200))


@pytest.fixture(scope="module", params=[("full", 1), ("spherical", 2)],
            ids=["full", "spherical-n_init-2"])
def fits(request, cluster, tmp_path_factory):
    """The same fit gathered and stored; the spy's record of each; the store's path."""
    covariance_type, n_init = request.param
    _, client = cluster
    path = str(tmp_path_factory.mktemp("store") / "model.zarr")
    settings = dict(covariance_type=covariance_type, n_init=n_init)
    with pytest.MonkeyPatch.context() as monkeypatch:
        spy = _Spy(monkeypatch)
        gathered = _fit(client, **settings)
        gathered_largest, spy.largest = spy.largest, 0
        # a store already at the path is replaced (the ordinary model's, sharded)
        gathered.save(path, shards=2)
        with get_task_stream(client) as stream:
            stored = _fit(client, model_store=path, **settings)
        stored_largest = spy.largest
    writes = [t for t in stream.data if "esvi-write-block" in key_split(t["key"])]
    return dict(gathered=gathered, stored=stored, path=path, writes=writes,
                gathered_largest=gathered_largest, stored_largest=stored_largest)


def test_stored_fit_equals_the_gathered_fit(fits):
    gathered, stored = fits["gathered"], fits["stored"]
    assert stored.n_iter_ == gathered.n_iter_ and stored.converged_ == gathered.converged_
    assert_allclose(stored.lower_bounds_, gathered.lower_bounds_, rtol=1e-10)
    lazy = [name for name in POSTERIOR if is_dask_array(getattr(stored, name))]
    assert "means_" in lazy
    # what a covariance type publishes per component with a matrix or vector each
    assert ("covariances_" in lazy) == (stored.covariance_type == "full")
    for name in POSTERIOR:
        value = getattr(stored, name)
        assert np.asarray(value).dtype == getattr(gathered, name).dtype, name
        assert_allclose(np.asarray(value), getattr(gathered, name), rtol=1e-10, atol=1e-12,
                        err_msg=name)
    # each block (3 per worker) written once, by a task on the worker holding it; with
    # n_init=2 only the best run's
    assert len(fits["writes"]) == 6
    assert len({t["worker"] for t in fits["writes"]}) == 2


def test_stored_fit_predicts_block_wise_as_the_gathered_fit(fits, cluster):
    _, client = cluster
    gathered, stored = fits["gathered"], fits["stored"]
    X = as_dask(_blobs(), 300)
    with client.as_current(), dask.config.set(scheduler=client), \
            get_task_stream(client) as stream:
        labels = stored.predict(X).compute()
        scores = stored.score_samples(X).compute()
    names = {key_split(t["key"]) for t in stream.data}
    assert "daskmix-bgmm-predict-block" in names, names
    assert_array_equal(labels, gathered.predict(_blobs()))
    assert_allclose(scores, gathered.score_samples(_blobs()), rtol=1e-10)


def test_the_store_loads_as_the_fitted_model(fits):
    stored = fits["stored"]
    loaded = daskmix.load(fits["path"])
    assert loaded.n_iter_ == stored.n_iter_ and loaded.lower_bound_ == stored.lower_bound_
    assert loaded.get_params()["model_store"] is None  # where a fit writes: not the model
    for name in POSTERIOR:
        assert_allclose(np.asarray(getattr(loaded, name)), np.asarray(getattr(stored, name)),
                        rtol=0, atol=0, err_msg=name)
    assert not [p for p in os.listdir(os.path.dirname(fits["path"])) if p.endswith(".tmp")]


def test_the_client_never_builds_the_full_covariances(fits):
    full = fits["stored"].covariance_type == "full"
    # the spy sees what it must: the gathered full model is published in the client
    assert fits["gathered_largest"] == (K if full else 0)
    assert fits["stored_largest"] < K


@pytest.mark.parametrize("path, match", [
    ("model.nc", r"ending in \.zarr"),
    ("missing/model.zarr", "does not exist"),
])
def test_a_bad_path_is_refused_before_any_work(cluster, tmp_path, path, match):
    _, client = cluster
    estimator = BayesianGaussianMixture(**SETTINGS, model_store=str(tmp_path / path))
    with get_task_stream(client) as stream, client.as_current(), \
            dask.config.set(scheduler=client), pytest.raises(ValueError, match=match):
        estimator.fit(as_dask(_blobs(), 200))
    assert not stream.data
    assert not hasattr(estimator, "means_")


def test_other_algorithms_refuse_a_model_store(tmp_path):
    estimator = BayesianGaussianMixture(n_components=2, model_store=str(tmp_path / "m.zarr"))
    with pytest.raises(ValueError, match=r"model_store is supported with algorithm in \['esvi'\]"):
        estimator.fit(_blobs())
    assert not os.listdir(tmp_path)


def test_a_worker_lost_during_the_writes_leaves_no_store(fresh_cluster, tmp_path, monkeypatch):
    cluster, client = fresh_cluster
    address = cluster.worker_address(cluster.workers[1], client)
    create_store = _bayesian_mixture.create_store

    def create_then_kill(*args, **kwargs):
        store = create_store(*args, **kwargs)
        cluster.workers[1].kill()
        deadline = time.monotonic() + 30
        while address in client.scheduler_info(n_workers=-1)["workers"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return store

    monkeypatch.setattr(_bayesian_mixture, "create_store", create_then_kill)
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "model.zarr"
    estimator = BayesianGaussianMixture(**SETTINGS, covariance_type="full",
                                        model_store=str(path))
    with client.as_current(), dask.config.set(scheduler=client), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(WorkerLostError, match="holding fitted blocks"):
            estimator.fit(as_dask(_blobs(), 200))
    assert os.listdir(path.parent) == []  # no store, no temporary directory
    assert not hasattr(estimator, "means_") and not hasattr(estimator, "converged_")


@pytest.mark.parametrize("source", ["gathered", "stored"])
def test_a_warm_start_starts_from_the_fitted_posterior(fits, cluster, source, monkeypatch):
    from daskmix.mixture.variational import blocks as B
    from daskmix.mixture.variational import esvi as E

    _, client = cluster
    starts = []

    def recorded(model, params):
        starts.append(spherical_start(model, params))
        return starts[-1]

    spherical_start = B.spherical_start
    monkeypatch.setattr(E._blocks, "spherical_start", recorded)
    warm = copy.deepcopy(fits[source]).set_params(warm_start=True, max_iter=1,
                                                  model_store=None)
    with client.as_current(), dask.config.set(scheduler=client), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm.fit(as_dask(_blobs(), 200))
    gathered = fits["gathered"]
    expected = spherical_start(gathered._model(gathered._published_priors()),
                               gathered._fitted_parameters())
    (start,) = starts
    for name in ("means", "log_weights", "variances"):
        assert_allclose(start[name], expected[name], rtol=1e-10, err_msg=name)
    assert warm.n_iter_ == 1 and not is_dask_array(warm.means_)


def test_the_command_line_writes_a_zarr_model_from_the_workers(cluster, tmp_path):
    _, client = cluster
    np.save(tmp_path / "blobs.npy", _blobs())
    model = tmp_path / "model.zarr"
    with get_task_stream(client) as stream:
        result = subprocess.run(
            [sys.executable, "-m", "daskmix", "fit", str(tmp_path / "blobs.npy"), "--bayesian",
             "--algorithm", "esvi", "-k", str(K), "--covariance-type", "full",
             "--weight-concentration-prior-type", "dirichlet_distribution",
             "--max-iter", "2", "--chunk-rows", "200",
             "--scheduler", client.scheduler.address, "-o", str(model)],
            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    writes = [t for t in stream.data if "esvi-write-block" in key_split(t["key"])]
    assert len({t["worker"] for t in writes}) == 2
    loaded = daskmix.load(model)
    assert is_dask_array(loaded.covariances_) and loaded.n_iter_ == 2
