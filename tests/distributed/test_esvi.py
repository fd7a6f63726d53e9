"""ESVI (``BayesianGaussianMixture(algorithm="esvi")``) on a real ``dask scheduler`` + workers.

- the distributed run equals the sequential NumPy reference
  (``blocks.run_sequential``) on the same partitions and schedule;
- the lower bound reaches batch VI's from the same start (within 1%), with
  2 and 3 workers, and the two agree with each other within 1% (the
  documented tolerance: the number of workers changes the partitions and
  the schedule, so the path of the coordinate ascent);
- a worker SIGKILLed in the middle of a fit: the fit recovers (warning) and
  ends at a model as good as the undisturbed one, never a silently wrong one.
"""

from __future__ import annotations

import threading
import time
import warnings

import dask
import numpy as np
import pytest
from dask.utils import key_split
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs

from daskmix import BayesianGaussianMixture
from daskmix._dask.model_parallel import PinnedTasks
from daskmix.exceptions import WorkerLostError
from daskmix.mixture.variational import blocks as B
from daskmix.mixture.variational import esvi as E
from tests.distributed._fits import as_dask
from tests.distributed.conftest import _running_cluster

SETTINGS = dict(n_components=6, covariance_type="diag", random_state=0, max_iter=200,
                tol=1e-3, weight_concentration_prior_type="dirichlet_distribution")


def _blobs():
    X, _ = make_blobs(1200, n_features=3, centers=6, cluster_std=1.0, center_box=(-8, 8),
                      random_state=0)
    return X


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory):
    """A scheduler and three workers, for this module."""
    yield from _running_cluster(tmp_path_factory.mktemp("cluster3"), n_workers=3)


def _fit(client, X, **kwargs):
    with client.as_current(), dask.config.set(scheduler=client), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return BayesianGaussianMixture(**{**SETTINGS, **kwargs}).fit(as_dask(X, 200))


@pytest.fixture(scope="module")
def batch():
    with dask.config.set(scheduler="threads"):
        return BayesianGaussianMixture(algorithm="em", **SETTINGS).fit(as_dask(_blobs(), 200))


def test_distributed_run_equals_the_sequential_reference(cluster):
    _, client = cluster
    X = _blobs()
    start_model = BayesianGaussianMixture(**{**SETTINGS, "max_iter": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start_model.fit(X)
    model = start_model._model(start_model._published_priors())
    params = start_model._fitted_parameters()
    layout = E.block_layout(model, params, len(X), 6, 2, X.dtype)
    start = B.spherical_start(model, params)
    ordered = B.ordered_start(start, 4)
    with client.as_current(), PinnedTasks(client, as_dask(X, 200), None, name="esvi") as tasks:
        plan = tasks.assign_chunks(2)
        result = E.run_esvi(tasks, layout, start, n_blocks_per_worker=2, max_iter=4, tol=0.0,
                            random_state=np.random.RandomState(1), on_iteration=lambda *a: None)
        final = client.gather(result.blocks)
    partitions = [B.initial_rows(X[200 * c[0]:200 * (c[-1] + 1)], None, ordered, 2)
                  for c in plan]
    reference = B.run_sequential(partitions, layout, 4, max_iter=4, tol=0.0,
                                 random_state=np.random.RandomState(1))
    assert result.n_iter == reference["n_iter"] == 4
    assert_allclose(result.lower_bounds, reference["lower_bounds"], rtol=1e-10)
    expected = B.merge_params([(b.start, B.block_posterior(b, model))
                               for b in reference["blocks"]])
    assert_allclose(result.params.means, expected.means, rtol=1e-9, atol=1e-9)
    assert_allclose(result.params.covariances, expected.covariances, rtol=1e-9)
    assert_allclose(result.params.weight_concentration, expected.weight_concentration,
                    rtol=1e-9)
    # the blocks left on the workers, in order, hold the reference's statistics
    assert [(b.start, b.stop) for b in final] == B.block_ranges(6, 4)
    for block, expected_block in zip(final, reference["blocks"]):
        assert_allclose(block.nk, expected_block.nk, rtol=1e-10)
        assert_allclose(block.s2, expected_block.s2, rtol=1e-10)


@pytest.fixture(scope="module")
def two_workers(cluster):
    return _fit(cluster[1], _blobs(), algorithm="esvi", n_active=3)


@pytest.fixture(scope="module")
def three_workers(cluster3):
    return _fit(cluster3[1], _blobs(), algorithm="esvi", n_active=3)


@pytest.mark.parametrize("fit", ["two_workers", "three_workers"])
def test_lower_bound_reaches_batch_vi(request, fit, batch):
    model = request.getfixturevalue(fit)
    assert model.converged_
    assert abs(model.lower_bound_ - batch.lower_bound_) <= 0.01 * abs(batch.lower_bound_)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-9 * abs(model.lower_bound_))
    # the same clusters: the heavy components' means match batch VI's
    heavy = batch.weights_ > 0.05
    for mean in batch.means_[heavy]:
        assert np.min(np.linalg.norm(model.means_ - mean, axis=1)) < 0.2


def test_results_do_not_depend_on_the_number_of_workers(two_workers, three_workers):
    assert_allclose(two_workers.lower_bound_, three_workers.lower_bound_, rtol=0.01)
    assert_allclose(np.sort(two_workers.weights_), np.sort(three_workers.weights_),
                    atol=0.02)


def test_dirichlet_process_is_rejected(cluster):
    with pytest.raises(ValueError, match="dirichlet_distribution"):
        _fit(cluster[1], _blobs(), algorithm="esvi",
             weight_concentration_prior_type="dirichlet_process")


class _Killer:
    """SIGKILL ``worker`` once it runs an ESVI step of pass ``after_pass`` or later."""

    def __init__(self, cluster, client, worker, after_pass=3):
        self.client, self.worker = client, worker
        self.address = cluster.worker_address(worker, client)
        self.after_pass = after_pass
        self.killed_while_running = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = self.client.processing(workers=[self.address]).get(self.address, ())
            for key in running:
                name = key if isinstance(key, str) else str(key)
                if "esvi-step-pass-" in name:
                    number = int(name.split("esvi-step-pass-")[1].split("-")[0])
                    if number >= self.after_pass:
                        self.worker.kill()
                        self.killed_while_running = key_split(name)
                        return
            time.sleep(0.005)


def test_killed_worker_is_recovered(mended_cluster, batch):
    cluster, client = mended_cluster
    killer = _Killer(cluster, client, cluster.workers[1])
    with client.as_current(), dask.config.set(scheduler=client), \
            pytest.warns(RuntimeWarning, match="left the cluster.*goes back"):
        model = BayesianGaussianMixture(algorithm="esvi", n_active=3,
                                        **SETTINGS).fit(as_dask(_blobs(), 200))
    killer.thread.join(timeout=30)
    assert killer.killed_while_running is not None
    assert killer.address not in client.scheduler_info(n_workers=-1)["workers"]
    # not a silently wrong model: the statistics were rebuilt from all the rows
    assert abs(model.lower_bound_ - batch.lower_bound_) <= 0.01 * abs(batch.lower_bound_)
    assert_allclose(model.weights_.sum(), 1.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_losing_every_worker_is_a_clear_error(mended_cluster):
    cluster, client = mended_cluster
    killers = [_Killer(cluster, client, w, after_pass=2) for w in cluster.workers]
    estimator = BayesianGaussianMixture(algorithm="esvi", n_active=3, **SETTINGS)
    with client.as_current(), dask.config.set(scheduler=client), \
            pytest.raises(WorkerLostError, match="lost every worker"):
        estimator.fit(as_dask(_blobs(), 200))
    for killer in killers:
        killer.thread.join(timeout=30)
