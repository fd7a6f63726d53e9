"""ESVI (``BayesianGaussianMixture(algorithm="esvi")``): memory per worker and in the client, large model, straggler.

Four parts, each on its own ``LocalCluster`` of worker processes (one
thread each)::

    python benchmarks/bench_esvi.py                    # all four, default sizes
    python benchmarks/bench_esvi.py --part memory      # (a) only
    python benchmarks/bench_esvi.py --part large       # (b) only
    python benchmarks/bench_esvi.py --part straggler   # (c) only
    python benchmarks/bench_esvi.py --part client      # (d) only
    python benchmarks/bench_esvi.py --quick            # small shapes, a smoke run

(a) **Parameter memory per worker.** ESVI runs ``--memory-passes`` passes
    on ``--memory-rows`` x ``--memory-features`` rows with
    ``--memory-components`` full-covariance components, for 1, 2 and 3
    workers and 2 blocks per worker (``P = 2, 4, 6``), and for 3 workers
    with 1, 2 and 4 blocks per worker. A thread polls every worker's data
    store (``client.run``) every 20 ms and sums the bytes of the parameter
    blocks it holds (whole blocks, and blocks inside a step's result);
    reported: the peak over the run per worker, as a fraction of the whole
    model (the bytes of all blocks). Every worker holds ``g`` of the ``P =
    g W`` blocks at a time, ``1 / W`` of the model; blocks in transit to the
    next round add to that; large groups move one block at a time (the
    default from 16 MiB), which bounds the peak at ``1 / W + 1 / P``; the
    last row moves groups at once.

(b) **A model larger than one worker.** ``--large-components`` full
    covariances on ``--large-features`` features, on ``--large-workers``
    workers each limited to ``--large-memory`` (a nanny restarts a worker
    that exceeds 95% of it): the model's precisions (float64) are larger
    than one worker's limit. The user's call is timed whole:
    ``BayesianGaussianMixture(algorithm="esvi", model_store=...)`` with
    ``init_params="random_from_data"``, ``--large-passes`` passes and
    ``verbose=2`` (each pass's time), then ``predict`` of 100 rows on the
    store-backed model; reported: the lower bound after each pass, the
    peak parameter blocks and resident memory per worker. Then batch VI
    (``algorithm="em"``) is started on the same cluster and data with
    ``max_iter=1`` and a timeout of ``--large-timeout`` seconds, and how it
    fails is recorded.

(c) **Straggler.** As ``bench_async.py``: 2 workers, one slowed by
    ``--delay`` seconds before every task (``daskmix._dask.testing.SlowWorker``).
    ESVI and batch VI from the same start (``--straggler-*`` shapes), each
    fitted with and without the slow worker; reported: wall time, passes or
    iterations and final lower bound. ESVI's ring moves every block through
    every worker each pass, so a slow worker slows every pass; batch VI's
    scheduler moves E-steps off the slow worker.

(d) **The client's memory.** The estimator's whole ``fit`` (initialisation,
    ``--client-passes`` passes, publication) with ``--client-components``
    full covariances on ``--client-features`` features, 2 workers, data
    generated on the workers (it never passes through the client), once
    with ``model_store=None`` (the model gathered into the client) and once
    with ``model_store`` (written by the workers to a zarr store in a
    temporary directory); reported: the peak of the client's Python and
    NumPy allocations during ``fit`` (``tracemalloc``), beside the bytes of
    the fitted per-component arrays (means, covariances, precisions and
    their Cholesky factors, float64).

Results: ``docs/benchmarks.md`` (section "ESVI").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait

from daskmix import BayesianGaussianMixture
from daskmix._dask.model_parallel import PinnedTasks
from daskmix._dask.testing import SlowWorker
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture.variational import WEIGHT_PRIORS, Priors, VariationalModel, get_wishart
from daskmix.mixture.variational import blocks as _blocks
from daskmix.mixture.variational import esvi as _esvi


def make_data(rows, features, components, spread, seed):
    """Overlapping blobs in random row order, float64."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(-spread, spread, size=(components, features))
    labels = rng.integers(components, size=rows)
    return means[labels] + rng.standard_normal((rows, features))


def _block_bytes(dask_worker):
    """Bytes of parameter blocks in a worker's data store (run on the worker)."""
    from daskmix.mixture.variational.blocks import Block

    seen = {}
    for key in list(dask_worker.data.keys()):
        try:
            value = dask_worker.data[key]
        except KeyError:
            continue
        if isinstance(value, tuple) and len(value) == 4:
            value = value[1]  # a step's result: (rows, blocks, ...)
        for block in value if isinstance(value, list) else [value]:
            if isinstance(block, Block):
                seen[id(block)] = block.nbytes  # a block held by two keys counts once
    return sum(seen.values())


class MemoryPoller:
    """Per worker, the peak of ``measure(dask_worker)`` (bytes), polled in a thread.

    ``measure`` defaults to the parameter blocks the worker holds
    (:func:`_block_bytes`); :func:`_rss` gives its resident memory.
    """

    def __init__(self, client, interval=0.02, measure=None):
        self.client, self.interval = client, interval
        self.measure = _block_bytes if measure is None else measure
        self.peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                for worker, n in self.client.run(self.measure).items():
                    self.peak[worker] = max(self.peak.get(worker, 0), n)
            except Exception:  # a worker restarting; keep polling
                pass
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False


def _setup(X, n_components, covariance_type, n_active, start_means=None):
    """The layout and a start of an ESVI fit on ``X``: random rows as means, data priors."""
    wishart = get_wishart(covariance_type)
    mean = X.mean(axis=0)
    var = X.var(axis=0)
    prior_cov = {"full": np.diag(var), "diag": var, "spherical": float(var.mean())}
    priors = Priors(1.0 / n_components, 1.0, mean, float(X.shape[1]),
                    prior_cov[covariance_type])
    model = VariationalModel(priors, get_covariance_type(covariance_type), wishart,
                             WEIGHT_PRIORS["dirichlet_distribution"], 1e-6)
    rng = np.random.default_rng(0)
    means = X[rng.choice(len(X), n_components, replace=False)] if start_means is None \
        else start_means
    start = {"means": means, "log_weights": np.full(n_components, -np.log(n_components)),
             "variances": np.full(n_components, float(var.mean()))}
    eps = 10 * np.finfo(np.float64).eps
    layout = _blocks.BlockLayout(model, mean, n_components * (1.0 / n_components + eps)
                                 + len(X), eps, n_active, n_components)
    return layout, start


def _run(client, X, layout, start, g, passes, on_iteration=None, ordered_bytes=0):
    times = []
    t0 = time.perf_counter()

    def record(n_iter, bound, change):
        times.append((time.perf_counter() - t0, bound))
        if on_iteration is not None:
            on_iteration(n_iter, bound, change)

    with client.as_current(), PinnedTasks(client, X, None, name="esvi") as tasks:
        result = _esvi.run_esvi(tasks, layout, start, n_blocks_per_worker=g,
                                max_iter=passes, tol=0.0, ordered_bytes=ordered_bytes,
                                random_state=np.random.RandomState(0), on_iteration=record)
    return result, times


def part_memory(args):
    X_local = make_data(args.memory_rows, args.memory_features, args.memory_components // 4,
                        8.0, 0)
    print(f"(a) parameter memory: {args.memory_rows} x {args.memory_features}, "
          f"K={args.memory_components} full, {args.memory_passes} passes")
    print("workers  blocks/worker  P  transfers  model MB  peak per worker MB (max, mean)  "
          "max/model  1/W + 1/P")
    for workers, g, ordered in [(1, 2, True), (2, 2, True), (3, 2, True), (3, 1, True),
                                (3, 4, True), (3, 2, False)]:
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            X = da.from_array(X_local, chunks=(args.memory_rows // 12, -1))
            layout, start = _setup(X_local, args.memory_components, "full", args.n_active)
            with MemoryPoller(client) as poller:
                result, _ = _run(client, X, layout, start, g, args.memory_passes,
                                 ordered_bytes=0 if ordered else np.inf)
            model_bytes = _model_bytes(args.memory_components, args.memory_features)
            peaks = np.array(list(poller.peak.values()), dtype=float)
            print(f"{workers:7d}  {g:13d}  {result.n_blocks:2d}  "
                  f"{'one by one' if ordered else 'at once':>10s}  {model_bytes / 1e6:8.1f}  "
                  f"{peaks.max() / 1e6:10.1f} {peaks.mean() / 1e6:10.1f}            "
                  f"{peaks.max() / model_bytes:9.2f}  {1 / workers + 1 / result.n_blocks:.2f}")


def _model_bytes(n_components, n_features):
    """Bytes of all blocks of a full-covariance model, as held.

    Statistics only (``nk``, ``sy`` and the triangles of ``s2``), float64:
    the posterior is computed from them when needed.
    """
    return n_components * (n_features * (n_features + 1) // 2 + n_features + 1) * 8


def _rss(dask_worker):
    """A worker process's resident memory (run on the worker)."""
    import psutil

    return psutil.Process().memory_info().rss


def part_large(args):
    K, D, W = args.large_components, args.large_features, args.large_workers
    X_local = make_data(args.large_rows, D, 64, 6.0, 1)
    model_bytes = _model_bytes(K, D)
    print(f"(b) K={K} full, D={D}, {args.large_rows} rows, {W} workers x "
          f"{args.large_memory}, {args.blocks_per_worker} blocks per worker; model as held "
          f"(statistics) {model_bytes / 1e9:.2f} GB, precisions alone "
          f"{K * D * D * 8 / 1e9:.2f} GB")
    with LocalCluster(n_workers=W, threads_per_worker=1, processes=True,
                      memory_limit=args.large_memory, dashboard_address=None) as cluster, \
            Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        X = da.from_array(X_local, chunks=(args.large_rows // (2 * W), -1)).persist()
        wait(X)
        store = os.path.join(tmp, "model.zarr")
        t0 = time.perf_counter()
        with MemoryPoller(client, interval=0.5) as poller, \
                MemoryPoller(client, interval=0.5, measure=_rss) as rss, client.as_current(), \
                dask.config.set({"scheduler": client,
                                 "daskmix.esvi.blocks-per-worker": args.blocks_per_worker}):
            # the user's call: the estimator's initialisation (spherical, O(K D) in
            # the client), ESVI passes, the model written to a sharded store by the
            # workers; verbose=2 prints each pass's time
            bgm = BayesianGaussianMixture(
                K, covariance_type="full", algorithm="esvi", n_active=args.n_active,
                max_iter=args.large_passes, tol=0.0, init_params="random_from_data",
                random_state=0, weight_concentration_prior_type="dirichlet_distribution",
                model_store=store, verbose=2, verbose_interval=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bgm.fit(X)
            total = time.perf_counter() - t0
            t1 = time.perf_counter()
            labels = bgm.predict(X[:100]).compute()
            predict_100 = time.perf_counter() - t1
        print(f"  ESVI fit (init, {bgm.n_iter_} passes, store written): {total:.0f} s; "
              f"lower bounds {', '.join(f'{b:.7g}' for b in bgm.lower_bounds_)}")
        print(f"  fitted attributes: {type(bgm.covariances_).__name__} of "
              f"{bgm.covariances_.nbytes / 1e9:.2f} GB; predict of 100 rows {predict_100:.1f} s "
              f"({len(np.unique(labels))} distinct labels)")
        print(f"  peak parameter blocks per worker: "
              f"{', '.join(f'{v / 1e6:.0f} MB' for v in poller.peak.values())}; peak worker "
              f"RSS {', '.join(f'{v / 1e9:.2f} GB' for v in rss.peak.values())}")
        del bgm
        print(f"  batch VI (algorithm='em', max_iter=1, timeout {args.large_timeout} s):")
        outcome = {}

        def batch():
            try:
                with client.as_current(), dask.config.set(scheduler=client), \
                        warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    BayesianGaussianMixture(
                        K, covariance_type="full", max_iter=1, random_state=0,
                        init_params="random_from_data",
                        weight_concentration_prior_type="dirichlet_distribution").fit(X)
                outcome["result"] = "finished"
            except Exception as error:  # record how it fails
                outcome["result"] = f"{type(error).__name__}: {str(error)[:300]}"

        thread = threading.Thread(target=batch, daemon=True)
        t0 = time.perf_counter()
        thread.start()
        thread.join(timeout=args.large_timeout)
        waited = time.perf_counter() - t0
        print(f"    after {waited:.0f} s: {outcome.get('result', 'still running (timeout)')}")


def part_straggler(args):
    X_local = make_data(args.straggler_rows, args.straggler_features,
                        args.straggler_components, 8.0, 2)
    K = args.straggler_components
    print(f"(c) straggler: {args.straggler_rows} x {args.straggler_features}, K={K} diag, "
          f"2 workers, delay {args.delay} s per task on one")
    settings = dict(n_components=K, covariance_type="diag", random_state=0, tol=1e-3,
                    max_iter=300, weight_concentration_prior_type="dirichlet_distribution")
    rows = []
    for slow in (False, True):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            X = da.from_array(X_local, chunks=(args.straggler_rows // 8, -1)).persist()
            wait(X)
            if slow:
                victim = sorted(client.scheduler_info()["workers"])[0]
                client.register_plugin(SlowWorker(victim, args.delay))
            for algorithm, extra in [("esvi", {"n_active": args.n_active}), ("em", {})]:
                walls = []
                for _ in range(args.repeats):
                    with client.as_current(), dask.config.set(scheduler=client), \
                            warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t0 = time.perf_counter()
                        gm = BayesianGaussianMixture(algorithm=algorithm, **settings,
                                                     **extra).fit(X)
                        walls.append(time.perf_counter() - t0)
                rows.append((algorithm, slow, min(walls), statistics.median(walls),
                             gm.n_iter_, gm.lower_bound_))
    print("algorithm  slow worker  best s  median s  passes/iterations  lower bound")
    for algorithm, slow, best, median, n_iter, bound in rows:
        print(f"{algorithm:9s}  {slow!s:11s}  {best:6.1f}  {median:8.1f}  {n_iter:17d}  "
              f"{bound:.6g}")


def part_client(args):
    import os
    import tempfile
    import tracemalloc

    K, D = args.client_components, args.client_features
    model_bytes = K * (3 * D * D + D) * 8
    print(f"(d) client memory: K={K} full, D={D}, {args.client_rows} rows, 2 workers, "
          f"{args.client_passes} passes; fitted per-component arrays "
          f"{model_bytes / 1e6:.1f} MB")
    print("model_store  client peak MB  peak / model")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client, \
            tempfile.TemporaryDirectory() as directory:
        rows = args.client_rows
        X = da.random.RandomState(0).standard_normal((rows, D), chunks=(rows // 8, D))
        X = (X + 4.0 * da.floor(X[:, :1] * 2)).persist()  # a few shifted clusters
        wait(X)
        for store in (None, os.path.join(directory, "model.zarr")):
            estimator = BayesianGaussianMixture(
                n_components=K, covariance_type="full", algorithm="esvi",
                n_active=args.n_active, max_iter=args.client_passes, tol=0.0,
                weight_concentration_prior_type="dirichlet_distribution",
                init_params="random_from_data", random_state=0, model_store=store)
            with client.as_current(), dask.config.set(scheduler=client), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tracemalloc.start()
                estimator.fit(X)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            print(f"{'None' if store is None else 'path':>11}  {peak / 1e6:14.1f}  "
                  f"{peak / model_bytes:12.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["all", "memory", "large", "straggler", "client"],
                        default="all")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-active", type=int, default=3)
    parser.add_argument("--blocks-per-worker", type=int, default=3)
    parser.add_argument("--memory-rows", type=int, default=12000)
    parser.add_argument("--memory-features", type=int, default=32)
    parser.add_argument("--memory-components", type=int, default=384)
    parser.add_argument("--memory-passes", type=int, default=2)
    parser.add_argument("--large-components", type=int, default=8192)
    parser.add_argument("--large-features", type=int, default=128)
    parser.add_argument("--large-rows", type=int, default=8192)
    parser.add_argument("--large-workers", type=int, default=3)
    parser.add_argument("--large-memory", default="1GB")
    parser.add_argument("--large-passes", type=int, default=2)
    parser.add_argument("--large-timeout", type=float, default=300.0)
    parser.add_argument("--straggler-rows", type=int, default=6000)
    parser.add_argument("--straggler-features", type=int, default=4)
    parser.add_argument("--straggler-components", type=int, default=6)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--client-components", type=int, default=256)
    parser.add_argument("--client-features", type=int, default=64)
    parser.add_argument("--client-rows", type=int, default=8000)
    parser.add_argument("--client-passes", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:
        args.memory_rows, args.memory_components, args.memory_features = 2400, 48, 8
        args.large_components, args.large_features, args.large_rows = 96, 16, 600
        args.large_memory, args.large_timeout = "700MB", 60.0
        args.straggler_rows, args.repeats = 1200, 1
        args.client_components, args.client_features, args.client_rows = 32, 16, 1600
    print(f"bench_esvi.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    if args.part in ("all", "memory"):
        part_memory(args)
    if args.part in ("all", "straggler"):
        part_straggler(args)
    if args.part in ("all", "large"):
        part_large(args)
    if args.part in ("all", "client"):
        part_client(args)


if __name__ == "__main__":
    main()
