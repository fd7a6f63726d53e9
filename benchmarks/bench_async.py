"""Asynchronous EM (DEM) against synchronous exact EM with a straggling worker.

The claim checked (issue 7): on a ``LocalCluster`` with two worker
processes (one thread each), one of them slowed by an injected delay before
every task, ``GaussianMixture(algorithm="async", gamma=0.5)`` reaches exact
EM's final per-sample log-likelihood (within 0.5%) in less wall time than
synchronous exact EM (``algorithm="em"``), from the same initial parameters.

One command::

    python benchmarks/bench_async.py            # the issue's case
    python benchmarks/bench_async.py --quick    # small shapes, a smoke run

Setup:

- Data: ``--rows`` x ``--features`` float64 rows from ``--components``
  overlapping Gaussian blobs (means uniform in ``[-spread, spread]``,
  per-feature scales in ``[0.5, 2]``), in random order, as a dask array of
  ``--chunks`` equal chunks, persisted on the workers before anything is
  timed, alternately on one and the other (so the slow worker holds half of
  them); both algorithms read the same resident blocks.
- Straggler: a ``WorkerPlugin`` on one worker replaces its thread pool by
  one that sleeps ``--delay`` seconds before every task (E-steps, and for
  exact EM also the reduction's tasks that land there). The scheduler does
  not see the delay as task duration, so it does not rebalance because of it
  (a worker slowed by something outside Dask: a noisy neighbour, a slower
  machine, a throttled VM).
- Start: one initialisation (``init_params=--init``, ``max_iter=0``),
  passed to every fit as ``weights_init``, ``means_init`` and
  ``precisions_init``.
- Fits: exact EM (``algorithm="em"``) and asynchronous EM
  (``algorithm="async", gamma=--gamma``), both with ``tol=--tol`` and their
  own stopping rules; ``--repeats`` timed fits each, alternating, after one
  untimed warm-up fit each.

Placement: neither algorithm is told which worker is slow. Exact EM's
tasks are placed by the scheduler, which puts each pass's E-steps on the
less busy worker (copying blocks to it); asynchronous EM places its own
E-steps by how often each worker reports (``daskmix.mixture.algorithms.async_em.Placement``),
so its fast worker also computes blocks stored on the slow one. After the
timed fits, one more untimed fit of each, under ``get_task_stream``,
counts the E-step tasks each worker ran ("placement" in the output), so
that the balance each algorithm got can be compared.

Measurement ("time to target"): every M-step's parameters are recorded with
the time they were produced (a wrapper around ``params_from_stats`` in the
benchmark process, which is where the M-steps run). After the fit, off the
clock, the exact per-sample log-likelihood of each recorded parameter set is
evaluated on all the data (local threaded scheduler). The target is exact
EM's final value ``L*`` (the exact log-likelihood of exact EM's fitted
parameters); a fit's time to target is the wall time from the ``fit`` call
to the first M-step whose parameters are within 0.5% of ``|L*|``. Reported:
medians over the repeats of that time and of the whole fit's wall time, the
ratio of exact EM's median time to target over asynchronous EM's, M-steps,
and the final log-likelihoods. The exit status is 1 when asynchronous EM
misses the target or is not faster (``--quick`` reports but never fails).

Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, get_task_stream, wait

from daskmix import GaussianMixture
from daskmix._dask.testing import SlowWorker
from daskmix.mixture.algorithms import async_em as _async
from daskmix.mixture.algorithms import exact_pass as _exact_pass

#: How close to exact EM's final per-sample log-likelihood counts as reached.
TARGET = 0.005


class MStepRecorder:
    """Record every M-step's parameters and time in the modules of both algorithms."""

    def __init__(self):
        self.modules = (_exact_pass, _async)
        self.original = _async.params_from_stats
        self.records = []

    def __enter__(self):
        original, records = self.original, self.records

        def recorded(*args, **kwargs):
            params = original(*args, **kwargs)
            records.append((time.perf_counter(), params))
            return params

        for module in self.modules:
            module.params_from_stats = recorded
        return self

    def __exit__(self, *exc):
        for module in self.modules:
            module.params_from_stats = self.original
        return False


def make_data(rows, features, components, spread, seed):
    """Overlapping blobs in random row order, float64."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-spread, spread, size=(components, features))
    scales = rng.uniform(0.5, 2.0, size=(components, features))
    labels = rng.integers(components, size=rows)
    return means[labels] + scales[labels] * rng.standard_normal((rows, features))


def mean_loglik(params, X, covariance_type):
    """Exact per-sample log-likelihood of ``params`` on ``X`` (threaded, off the clock)."""
    gm = GaussianMixture(len(params.weights), covariance_type=covariance_type)
    gm._set_fitted(params, X.dtype)
    gm.n_features_in_ = X.shape[1]
    with dask.config.set(scheduler="threads"):
        return gm.score(X)


def place_blocks(client, X_local, n_chunks, workers):
    """``X_local`` as a persisted dask array whose chunks alternate between ``workers``."""
    rows = -(-len(X_local) // n_chunks)
    pieces = [
        client.persist(da.from_array(X_local[start:start + rows], chunks=(-1, -1)),
                       workers=[workers[i % len(workers)]])
        for i, start in enumerate(range(0, len(X_local), rows))
    ]
    X = da.concatenate(pieces).persist()
    wait(X)
    return X


def start_values(start):
    """``weights_init``, ``means_init`` and ``precisions_init`` of an initialised model.

    The weights are normalised (``"random_from_data"`` leaves them summing
    to ``n_components / n_samples``, as scikit-learn does).
    """
    return dict(weights_init=start.weights_ / start.weights_.sum(), means_init=start.means_,
                precisions_init=start.precisions_)


def timed_fit(X, start, args, **kwargs):
    """One fit from ``start``; its wall time, M-steps and each M-step's time and params."""
    gm = GaussianMixture(
        args.components, covariance_type=args.covariance_type, tol=args.tol,
        max_iter=args.max_iter, **start_values(start), **kwargs,
    )
    with MStepRecorder() as recorder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter binds
        t0 = time.perf_counter()
        gm.fit(X)
        wall = time.perf_counter() - t0
    steps = [(t - t0, params) for t, params in recorder.records]
    return gm, wall, steps


def estep_placement(client, X, start, args, slow, **kwargs):
    """E-step tasks on the slow and on the other worker in one untimed fit."""
    with get_task_stream(client) as stream, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        GaussianMixture(args.components, covariance_type=args.covariance_type, tol=args.tol,
                        max_iter=args.max_iter, **start_values(start), **kwargs).fit(X)
    counts = {"slow": 0, "other": 0}
    for task in stream.data:
        name = task["key"][0] if isinstance(task["key"], tuple) else task["key"]
        if "estep" in name and "aggregate" not in name and "partial" not in name:
            counts["slow" if task["worker"] == slow else "other"] += 1
    return counts


def time_to_target(steps, X_local, target, covariance_type):
    """Seconds to the first M-step whose parameters are within TARGET of ``target``."""
    for elapsed, params in steps:
        if abs(mean_loglik(params, X_local, covariance_type) - target) <= TARGET * abs(target):
            return elapsed
    return float("nan")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, one repeat")
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--components", type=int, default=8)
    parser.add_argument("--covariance-type", default="full")
    parser.add_argument("--spread", type=float, default=2.0)
    parser.add_argument("--chunks", type=int, default=16, help="row chunks (blocks)")
    parser.add_argument("--delay", type=float, default=0.1,
                        help="seconds added before every task on the slow worker")
    parser.add_argument("--gamma", type=float, default=0.5)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--init", default="random_from_data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.chunks, args.delay, args.repeats = 20_000, 8, 0.05, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    X_local = make_data(args.rows, args.features, args.components, args.spread, args.seed)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        workers = sorted(client.scheduler_info()["workers"])
        X = place_blocks(client, X_local, args.chunks, workers)
        blocks = {w: sum(X.name in str(k) for k in keys)
                  for w, keys in client.has_what().items()}
        start = GaussianMixture(
            args.components, covariance_type=args.covariance_type, init_params=args.init,
            max_iter=0, random_state=args.seed,
        ).fit(X)
        client.register_plugin(SlowWorker(workers[0], args.delay))
        algorithms = {
            "exact EM": dict(algorithm="em"),
            f"async EM, gamma={args.gamma}": dict(algorithm="async", gamma=args.gamma),
        }
        for kwargs in algorithms.values():  # warm-up: imports, numba caches, connections
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning
                GaussianMixture(args.components, covariance_type=args.covariance_type,
                                max_iter=2, **start_values(start), **kwargs).fit(X)
        runs = {name: [] for name in algorithms}
        for _ in range(args.repeats):
            for name, kwargs in algorithms.items():
                runs[name].append(timed_fit(X, start, args, **kwargs))
        placement = {name: estep_placement(client, X, start, args, workers[0], **kwargs)
                     for name, kwargs in algorithms.items()}

    exact_fit = runs["exact EM"][0][0]
    target = mean_loglik(exact_fit._fitted_parameters(), X_local, args.covariance_type)
    print(f"data: {args.rows} x {args.features} float64, {args.components} components "
          f"({args.covariance_type}), {args.chunks} chunks; 2 worker processes x 1 thread; "
          f"blocks per worker {sorted(blocks.values())}; worker {workers[0]} delayed "
          f"{args.delay} s per task")
    print(f"target: exact EM's final per-sample log-likelihood {target:.6f}, "
          f"within {TARGET:.1%}")
    summary = {}
    for name, results in runs.items():
        reached = [time_to_target(steps, X_local, target, args.covariance_type)
                   for _, _, steps in results]
        finals = [mean_loglik(gm._fitted_parameters(), X_local, args.covariance_type)
                  for gm, _, _ in results]
        summary[name] = statistics.median(reached)
        print(f"{name:>22}: time to target {statistics.median(reached):7.2f} s "
              f"(runs {', '.join(f'{t:.2f}' for t in reached)}), whole fit "
              f"{statistics.median(w for _, w, _ in results):7.2f} s, M-steps "
              f"{statistics.median(gm.n_iter_ for gm, _, _ in results):.0f}, final "
              f"log-likelihood {statistics.median(finals):.6f}; placement: E-step tasks "
              f"on the slow worker {placement[name]['slow']}, on the other "
              f"{placement[name]['other']}")
    exact_time, async_time = summary.values()
    ratio = exact_time / async_time
    print(f"ratio exact / async (time to target): {ratio:.2f}x")
    ok = np.isfinite(async_time) and ratio > 1
    if not ok and not args.quick:
        print("CLAIM FAILED: async EM did not reach the target faster than exact EM")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
