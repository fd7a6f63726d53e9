"""Asynchronous distributed EM (``algorithm="async"``).

Two kinds of tests:

- the policy (``_async.run_async`` and its placement rule) on simulated
  tasks, in-process: each simulated worker "takes" a fixed number of time
  units per block, so which statistics are stale at each M-step, and which
  worker computes which block, is deterministic and can be checked;
- the estimator on a ``distributed.LocalCluster`` (two in-process workers,
  one thread each, shared by the module), against exact EM: ``gamma=1`` is
  exact EM to rounding, whatever the chunking, the timing (a slowed
  worker) or a worker dying mid-fit; ``gamma < 1`` ends within 0.5% of
  exact EM's per-sample log-likelihood.

The initialisations and exact EM run on the synchronous scheduler (the
suite's default); only the asynchronous E-steps run on the cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import warnings

import dask.array as da
import numpy as np
import pytest
from dask.utils import key_split
from distributed import Client, LocalCluster, WorkerPlugin, wait
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from daskmix import GaussianMixture
from daskmix._dask.testing import DelayedThreadPoolExecutor, SlowWorker
from daskmix.exceptions import NoClientError
from daskmix.mixture._params import GaussianParams
from daskmix.mixture.algorithms import async_em as _async
from daskmix.mixture.covariance import COVARIANCE_TYPES
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, as_dask

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")

#: The covariance types scikit-learn has (the tests check against it).
SKLEARN_TYPES = sorted(set(COVARIANCE_TYPES) & {"full", "tied", "diag", "spherical"})

#: Seconds each task waits on the slowed worker.
DELAY = 0.02


# ---- helpers ----------------------------------------------------------------
class DieAfter(WorkerPlugin):
    """Close the worker at ``address`` once it has finished ``n`` async E-step tasks."""

    name = "daskmix-test-die-after"

    def __init__(self, address, n):
        self.address, self.n, self.count = address, n, 0

    def setup(self, worker):
        self.worker = worker

    def transition(self, key, start, finish, **kwargs):
        if (self.worker.address != self.address or finish != "memory"
                or key_split(key) != "daskmix-async-estep"):
            return
        self.count += 1
        if self.count == self.n:
            asyncio.get_running_loop().create_task(self.worker.close())


def assert_same_fit(actual, expected, rtol=1e-8):
    """Every fitted attribute, the iteration count and the lower bounds agree."""
    for name in FITTED:
        reference = getattr(expected, name)
        assert_allclose(getattr(actual, name), reference, rtol=rtol,
                        atol=rtol * np.max(np.abs(reference)), err_msg=name)
    assert actual.n_iter_ == expected.n_iter_
    assert actual.converged_ == expected.converged_
    assert_allclose(actual.lower_bounds_, expected.lower_bounds_, rtol=rtol)
    assert_allclose(actual.lower_bound_, expected.lower_bound_, rtol=rtol)


def assert_within_half_percent(actual, reference):
    assert abs(actual - reference) <= 0.005 * abs(reference), (actual, reference)


@pytest.fixture(scope="module")
def overlapping():
    """Four overlapping blobs in 3 features (EM needs a dozen iterations), 2,000 rows."""
    X, _ = make_blobs(2000, n_features=3, centers=4, cluster_std=2.5, center_box=(-8, 8),
                      random_state=0)
    return X


@pytest.fixture(scope="module")
def exact(overlapping):
    """Exact EM on ``overlapping`` (threaded scheduler), and its per-sample log-likelihood."""
    gm = fit(as_dask(overlapping, 250), "em")
    return gm, gm.score(overlapping)


@pytest.fixture(scope="module")
def cluster():
    """Two in-process workers with one thread each; the client is not the default."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        yield cluster


@pytest.fixture
def client(cluster):
    """The module cluster's client, current for the duration of the test."""
    with Client(cluster, set_as_default=False) as client, client.as_current():
        yield client


# ---- the policy, on simulated tasks -------------------------------------------
class SimulatedTasks:
    """Workers that take ``costs[worker]`` time units per block, reported in finish order.

    Implements what ``run_async`` needs of ``BlockTasks``, in-process and
    deterministic: each worker runs one task at a time, in the order they
    were submitted to it; a task submitted with no worker goes to the first
    worker holding its block (blocks are held alternately by the workers,
    in sorted order). It records what the policy did.
    """

    def __init__(self, X, row_chunks, costs):
        bounds = np.cumsum((0,) + tuple(row_chunks))
        self.blocks = [X[a:b] for a, b in itertools.pairwise(bounds)]
        self.costs = dict(costs)
        names = sorted(self.costs)
        self.home = [names[b % len(names)] for b in range(len(self.blocks))]
        self.now = 0.0
        self._queues = {w: [] for w in self.costs}      # tickets, first one running
        self._finish = {}                               # worker -> finish time of its running task
        self._live, self._order = {}, itertools.count()
        self.params = {}           # version -> EStepParams
        self.submitted_at = {}     # version -> simulated time of its first task
        self.stale_reports = 0     # reports computed at older parameters than the newest
        self.newest = -1
        self.lost = set()          # (block, version) of tasks that never report
        self.vanished = 0          # tasks submitted that were in ``lost``
        self.computed = dict.fromkeys(self.costs, 0)  # blocks each worker computed
        self.max_queued = dict.fromkeys(self.costs, 0)  # most tasks a worker held at once

    @property
    def n_blocks(self):
        return len(self.blocks)

    def workers(self):
        return dict.fromkeys(self.costs, 1)

    def holders(self):
        return [{w} for w in self.home]

    def _start_next(self, worker):
        queue = self._queues[worker]
        if queue:
            self._finish[worker] = self.now + self.costs[worker]
        else:
            self._finish.pop(worker, None)

    def submit(self, block, tag, worker=None, **kwargs):
        worker = worker if worker is not None else self.home[block]
        self.params[tag] = kwargs["params"]
        self.submitted_at.setdefault(tag, self.now)
        self.newest = max(self.newest, tag)
        ticket = next(self._order)
        self._live[ticket] = (block, tag, worker, kwargs)
        if (block, tag) in self.lost:
            self.vanished += 1
            return  # never runs, never reports
        self._queues[worker].append(ticket)
        self.max_queued[worker] = max(self.max_queued[worker], len(self._queues[worker]))
        if len(self._queues[worker]) == 1:
            self._start_next(worker)

    def running(self):
        return {block: (tag, worker) for block, tag, worker, _ in self._live.values()}

    def cancel(self, blocks):
        blocks = set(blocks)
        for ticket in [t for t, (b, *_) in self._live.items() if b in blocks]:
            worker = self._live.pop(ticket)[2]
            queue = self._queues[worker]
            if ticket in queue:
                was_running = queue[0] == ticket
                queue.remove(ticket)
                if was_running:
                    self._start_next(worker)

    def next_report(self):
        worker = min(self._finish, key=lambda w: (self._finish[w], w))
        self.now = self._finish[worker]
        ticket = self._queues[worker].pop(0)
        self._start_next(worker)
        block, tag, worker, kwargs = self._live.pop(ticket)
        self.stale_reports += tag < self.newest
        self.computed[worker] += 1
        return block, tag, worker, _async.block_stats_about_shift(self.blocks[block], None,
                                                                  **kwargs)


def start_params(X, covariance_type):
    """Parameters one scikit-learn EM step from a k-means start (float64)."""
    sk = SkGaussianMixture(N_COMPONENTS + 1, covariance_type=covariance_type, max_iter=1,
                           init_params="kmeans", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X)
    return GaussianParams(sk.weights_, sk.means_, sk.covariances_, sk.precisions_cholesky_)


def run_simulated(X, covariance_type, gamma, costs, row_chunks=(250,) * 8, tol=1e-4):
    estimator = GaussianMixture(N_COMPONENTS + 1, covariance_type=covariance_type)
    params = start_params(X, covariance_type)
    model = _async.AsyncModel.from_settings(estimator._fit_settings(), params, X.shape[1],
                                            X.dtype)
    tasks = SimulatedTasks(X, row_chunks, costs)
    result = _async.run_async(tasks, model, params, gamma=gamma, lower_bound=-np.inf,
                              max_iter=500, tol=tol, on_iteration=lambda *a: None)
    return result, tasks


def sk_mean_loglik(X, params, covariance_type):
    """Mean log-likelihood of ``X`` under E-step parameters, by scikit-learn."""
    sk = SkGaussianMixture(len(params.log_weights), covariance_type=covariance_type)
    sk.weights_ = np.exp(params.log_weights)
    sk.means_ = params.centres + params.shift
    sk.precisions_cholesky_ = params.prec_chol
    return sk.score(X)


def time_to_target(tasks, X, covariance_type, target, rtol=2e-5):
    """Simulated time of the first parameters within ``rtol`` of ``target``."""
    for version in sorted(tasks.params):
        loglik = sk_mean_loglik(X, tasks.params[version], covariance_type)
        if abs(loglik - target) <= rtol * abs(target):
            return tasks.submitted_at[version]
    return np.inf


#: Time units per block: a fast worker and one five times slower.
STRAGGLER_COSTS = {"fast": 1.0, "slow": 5.0}


@pytest.mark.parametrize(("gamma", "n_blocks", "expected"),
                         [(0.3, 10, 3), (0.5, 7, 4), (1.0, 5, 5), (0.01, 5, 1), (0.75, 8, 6)])
def test_quorum_is_ceil_of_gamma_times_blocks(gamma, n_blocks, expected):
    assert _async.quorum(gamma, n_blocks) == expected


@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_policy_with_stragglers_uses_stale_blocks_and_reaches_exact_em(
    overlapping, covariance_type
):
    X = overlapping
    result, tasks = run_simulated(X, covariance_type, 0.5, STRAGGLER_COSTS)
    exact, sync_tasks = run_simulated(X, covariance_type, 1.0, STRAGGLER_COSTS)
    # M-steps did use statistics computed at older parameters...
    assert tasks.stale_reports > 0
    assert sync_tasks.stale_reports == 0
    # ...and got close to exact EM's optimum in less simulated time
    target = exact.lower_bound
    assert (time_to_target(tasks, X, covariance_type, target)
            < time_to_target(sync_tasks, X, covariance_type, target))
    # the final lower bound is the exact mean log-likelihood of the last
    # E-step's parameters (the final synchronous round)
    last = tasks.params[max(tasks.params)]
    assert_allclose(result.lower_bound, sk_mean_loglik(X, last, covariance_type), rtol=1e-10)
    assert result.converged
    assert_within_half_percent(result.lower_bound, exact.lower_bound)


def test_policy_pulls_work_to_the_fast_worker_and_keeps_queues_short(overlapping):
    X = overlapping
    result, tasks = run_simulated(X, "full", 0.5, STRAGGLER_COSTS)
    # no worker ever held more than PIPELINE_DEPTH tasks (per thread)...
    assert max(tasks.max_queued.values()) <= _async.PIPELINE_DEPTH
    # ...the fast worker computed blocks stored on the slow one, and about
    # as many more blocks than the slow one as it is faster
    assert tasks.computed["fast"] >= 3 * tasks.computed["slow"] > 0
    assert result.converged


@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_policy_result_does_not_depend_on_which_worker_is_slow(overlapping, gamma):
    X = overlapping
    slow_first, _ = run_simulated(X, "diag", gamma, {"a": 5.0, "b": 1.0}, tol=1e-3)
    slow_second, _ = run_simulated(X, "diag", gamma, {"a": 1.0, "b": 5.0}, tol=1e-3)
    if gamma == 1.0:  # exact EM whatever the placement
        assert slow_first.n_iter == slow_second.n_iter
        assert_allclose(slow_first.params.means, slow_second.params.means, rtol=1e-12)
    else:
        assert_allclose(slow_first.lower_bound, slow_second.lower_bound, rtol=5e-3)


def test_placement_takes_the_oldest_block_preferring_local_data():
    placement = _async.Placement(4, [{"a"}, {"b"}, {"a"}, {"b"}])
    versions = np.array([3, 2, 2, 3])
    # "a" and "b" both want the oldest blocks (1, 2); each gets its own first
    assert sorted(placement.assign(versions, 4, {}, {"a": 1, "b": 1})) == [
        (0, "a"), (1, "b"), (2, "a"), (3, "b")]
    # a block running or already at the current version is not resubmitted
    assert placement.assign(np.array([4, 2, 4, 1]), 4, {3: (1, "b")}, {"a": 1}) == [(1, "a")]
    # with no other block left, "a" copies "b"'s block
    assert placement.assign(np.array([4, 4, 4, 1]), 4, {}, {"a": 1}) == [(3, "a")]


def test_placement_fills_free_slots_only():
    placement = _async.Placement(6, [{"a"}] * 6)
    running = {0: (1, "a")}
    chosen = placement.assign(np.zeros(6, dtype=int), 2, running, {"a": 2})
    # 2 threads x PIPELINE_DEPTH slots, one taken
    assert len(chosen) == 2 * _async.PIPELINE_DEPTH - 1
    assert placement.assign(np.full(6, 2), 2, {}, {"a": 2}) == []  # nothing stale


def test_placement_gives_a_straggler_one_slot_per_thread():
    placement = _async.Placement(100, [{"fast", "slow"}] * 100)
    for block in range(30):
        placement.reported(block, "fast")
    placement.reported(30, "slow")
    assert placement.depth("fast", ["fast", "slow"]) == _async.PIPELINE_DEPTH
    assert placement.depth("slow", ["fast", "slow"]) == 1
    # a straggler left alone (the fast worker died) is the busiest worker
    assert placement.depth("slow", ["slow"]) == _async.PIPELINE_DEPTH
    chosen = placement.assign(np.zeros(100, dtype=int), 1, {}, {"fast": 1, "slow": 1})
    assert sum(worker == "slow" for _, worker in chosen) == 1


def test_placement_without_workers_leaves_it_to_the_scheduler():
    placement = _async.Placement(2, [set(), set()])
    assert placement.assign(np.zeros(2, dtype=int), 1, {}, {}) == [(0, None), (1, None)]


def test_policy_gamma_one_is_exact_em_step_by_step(overlapping):
    X = overlapping
    result, tasks = run_simulated(X, "full", 1.0, STRAGGLER_COSTS, tol=1e-3)
    start = start_params(X, "full")
    reference = SkGaussianMixture(
        N_COMPONENTS + 1, covariance_type="full", tol=1e-3, max_iter=500,
        weights_init=start.weights, means_init=start.means,
        precisions_init=np.linalg.inv(start.covariances),
    ).fit(X)
    assert result.n_iter == reference.n_iter_
    assert_allclose(result.lower_bound, reference.lower_bound_, rtol=1e-10)
    assert_allclose(result.params.means, reference.means_, rtol=1e-8, atol=1e-8)
    assert tasks.stale_reports == 0


def test_policy_restarts_a_task_lost_without_a_report(overlapping):
    X = overlapping
    params = start_params(X, "full")
    estimator = GaussianMixture(N_COMPONENTS + 1)
    model = _async.AsyncModel.from_settings(estimator._fit_settings(), params, X.shape[1],
                                            X.dtype)
    tasks = SimulatedTasks(X, (250,) * 8, STRAGGLER_COSTS)
    tasks.lost = {(0, 1)}  # block 0's first task after the seeding round vanishes
    result = _async.run_async(tasks, model, params, gamma=0.5, lower_bound=-np.inf,
                              max_iter=500, tol=1e-4, on_iteration=lambda *a: None)
    assert tasks.vanished == 1
    assert result.converged
    exact, _ = run_simulated(X, "full", 1.0, STRAGGLER_COSTS)
    assert_within_half_percent(result.lower_bound, exact.lower_bound)


def test_policy_ends_with_an_exact_round_at_max_iter(overlapping):
    X = overlapping
    params = start_params(X, "diag")
    estimator = GaussianMixture(N_COMPONENTS + 1, covariance_type="diag")
    model = _async.AsyncModel.from_settings(estimator._fit_settings(), params, X.shape[1],
                                            X.dtype)
    tasks = SimulatedTasks(X, (250,) * 8, STRAGGLER_COSTS)
    result = _async.run_async(tasks, model, params, gamma=0.25, lower_bound=-np.inf,
                              max_iter=6, tol=0.0, on_iteration=lambda *a: None)
    assert result.n_iter == 6 and not result.converged
    last = tasks.params[max(tasks.params)]
    assert_allclose(result.lower_bound, sk_mean_loglik(X, last, "diag"), rtol=1e-10)


# ---- the estimator, on a LocalCluster -----------------------------------------
def fit(X, algorithm, covariance_type="full", sample_weight=None, **kwargs):
    return GaussianMixture(N_COMPONENTS, covariance_type=covariance_type,
                           init_params="k-means++", random_state=0, algorithm=algorithm,
                           **kwargs).fit(X, sample_weight=sample_weight)


def test_without_a_client_says_how_to_get_one(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, algorithm="async")
    with pytest.raises(NoClientError, match=r"Client\(LocalCluster\(\)\).*algorithm=\"em\""):
        gm.fit(as_dask(X, (150,) * 4))
    assert not hasattr(gm, "means_")


# "factor" accepts algorithm="em" only so far (daskmix.mixture.covariance.factor)
@pytest.mark.parametrize("covariance_type", SKLEARN_TYPES)
def test_gamma_one_equals_exact_em(blobs, covariance_type, client):
    X = as_dask(blobs[0], (150,) * 4)
    assert_same_fit(fit(X, "async", covariance_type),
                    fit(X, "em", covariance_type), rtol=1e-10)


def test_gamma_one_with_sample_weight_and_numpy_input_equals_exact_em(blobs, client):
    X, _ = blobs
    weights = np.random.RandomState(0).randint(0, 4, size=len(X)).astype(float)
    expected = fit(as_dask(X, (150,) * 4), "em", sample_weight=weights)
    # NumPy input: made a dask array by daskmix, persisted on the workers for the run
    actual = fit(X, "async", sample_weight=da.from_array(weights, chunks=100))
    assert_same_fit(actual, expected, rtol=1e-10)


@pytest.mark.parametrize("chunk_layout", sorted(CHUNK_LAYOUTS))
def test_gamma_one_does_not_depend_on_chunking(blobs, chunk_layout, client):
    X, _ = blobs
    reference = fit(as_dask(X, CHUNK_LAYOUTS["one-chunk"]), "async", "diag")
    assert_same_fit(fit(as_dask(X, CHUNK_LAYOUTS[chunk_layout]), "async", "diag"), reference,
                    rtol=1e-10)


def test_gamma_below_one_reaches_exact_em(overlapping, exact, client):
    X = as_dask(overlapping, 250)
    gm = fit(X, "async", gamma=0.5)
    assert gm.converged_
    assert_within_half_percent(gm.score(X), exact[1])
    # the last step is an exact EM step from the parameters whose exact
    # log-likelihood lower_bound_ is: it cannot decrease it
    assert gm.score(X) >= gm.lower_bound_ - 1e-12


def _column_sums(X, w, row_start):
    return X.sum(axis=0)


def test_block_tasks_run_on_the_worker_they_are_addressed_to(client):
    from daskmix._dask.futures import BlockTasks

    X = np.arange(40.0).reshape(20, 2)
    workers = sorted(client.scheduler_info()["workers"])
    # block 0 stored on the first worker only
    stored = client.persist(da.from_array(X, chunks=(10, 2)), workers=[workers[0]])
    wait(stored)
    with BlockTasks(client, stored, None, _column_sums, name="test") as tasks:
        assert tasks.workers() == dict.fromkeys(workers, 1)
        assert tasks.holders() == [{workers[0]}, {workers[0]}]
        tasks.submit(0, "tag", workers[1])
        block, tag, worker, result = tasks.next_report()
        assert (block, tag, worker) == (0, "tag", workers[1])
        assert_allclose(result, X[:10].sum(axis=0))
        # the block was copied to the worker that computed it
        assert workers[1] in tasks.holders()[0]


def test_with_a_slowed_worker(overlapping, exact, client):
    X = as_dask(overlapping, 250)
    slow = next(iter(client.scheduler_info()["workers"]))
    client.register_plugin(SlowWorker(slow, DELAY))
    try:
        assert client.run(_is_delayed, workers=[slow])[slow]
        asynchronous = fit(X, "async", gamma=0.5)
        synchronous = fit(X, "async")
    finally:
        client.unregister_worker_plugin(SlowWorker.name)
        client.run(_restore_executor, workers=[slow])
    assert_within_half_percent(asynchronous.score(X), exact[1])
    # timing cannot change gamma=1
    assert_same_fit(synchronous, exact[0], rtol=1e-10)


def _is_delayed(dask_worker):
    return isinstance(dask_worker.executors["default"], DelayedThreadPoolExecutor)


def _restore_executor(dask_worker):
    executor = dask_worker.executors["default"]
    if isinstance(executor, DelayedThreadPoolExecutor):
        executor.delay = 0.0


@pytest.mark.parametrize("gamma", [1.0, 0.5])
def test_survives_a_worker_dying_mid_fit(overlapping, exact, gamma):
    X = as_dask(overlapping, 250)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, \
            Client(cluster, set_as_default=False) as client, client.as_current():
        victim = next(iter(client.scheduler_info()["workers"]))
        client.register_plugin(DieAfter(victim, 6))
        gm = fit(X, "async", gamma=gamma)
        assert len(client.scheduler_info()["workers"]) == 1
    if gamma == 1.0:
        assert_same_fit(gm, exact[0], rtol=1e-10)
    else:
        assert_within_half_percent(gm.score(X), exact[1])


def test_non_finite_data_raises_and_leaves_the_model_unchanged(blobs, client):
    X = blobs[0].copy()
    gm = fit(as_dask(X, (150,) * 4), "async")
    means = gm.means_.copy()
    X[321, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        # a warm start has no initialisation: the first E-steps find the NaN
        gm.set_params(warm_start=True).fit(da.from_array(X, chunks=(150, 3)))
    np.testing.assert_array_equal(gm.means_, means)


def test_verbose_and_progress_report_every_m_step(blobs, client, capsys):
    X = as_dask(blobs[0], (150,) * 4)
    gm = fit(X, "async", gamma=0.5, verbose=1, verbose_interval=1, progress=True)
    out = capsys.readouterr().out
    assert out.count("  Iteration ") == gm.n_iter_
    assert "Initialization converged." in out
