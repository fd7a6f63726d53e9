"""Sharded model files: save block by block, load lazily, predict block by block.

A ``GaussianMixture`` with K=8192 full covariances on 128 features (its
``precisions_cholesky_`` alone is 1.07 GB in float64; with ``means_``,
``covariances_`` and ``precisions_`` the per-component arrays are 3.2 GB)
is built from random parameters (precision Cholesky factors ``s (I + 0.05
U)`` with ``U`` random upper triangular, the covariances their inverses) and
saved with ``save(path, shards=8)``. Then, each in a fresh subprocess (so
that its peak RSS is its own):

* ``daskmix.load(path)`` (lazy) and ``predict`` on 100 rows and on
  100,000 rows (chunks of 12,500 rows), on the threaded scheduler (the
  process that loads is also the one that runs the tasks) and on a
  ``LocalCluster`` of 2 worker processes of 1 thread (the process that
  loads is only the client);
* wall times of the load, of a warm-up ``predict`` of 10 rows (imports and
  compilation in the workers, the first reads of the store), and of each
  ``predict`` (including its one small pass for the shift), the peak RSS of the loading process
  (``ru_maxrss``, the kernel's high-water mark) and, on the cluster, each
  worker's.

The save phase also predicts the first 100 rows with the in-memory model:
each later run checks that its labels equal those.

The parent imports neither numpy nor dask (a child's ``ru_maxrss`` starts
from the high-water mark of the process it replaced).

Usage::

    python benchmarks/bench_sharded.py                 # writes 3.2 GB under --dir
    python benchmarks/bench_sharded.py --quick         # K=512, 32 features: a smoke run
    python benchmarks/bench_sharded.py --dir /big/disk --keep
    python benchmarks/bench_sharded.py --schedulers threads --no-small   # 100,000 rows only

Results: ``docs/benchmarks.md``, "Sharded model files".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SEED = 20261204


def _save(args):
    import numpy as np

    from daskmix import GaussianMixture

    rng = np.random.default_rng(SEED)
    k, d = args.components, args.features
    t0 = time.perf_counter()
    means = rng.standard_normal((k, d)) * 3.0
    scale = rng.uniform(0.5, 2.0, size=k)
    prec_chol = np.triu(rng.standard_normal((k, d, d)) * 0.05, 1)
    prec_chol += np.eye(d)
    prec_chol *= scale[:, None, None]
    precisions = prec_chol @ np.swapaxes(prec_chol, 1, 2)
    covariances = np.linalg.inv(precisions)
    model = GaussianMixture(k, covariance_type="full")
    model.weights_ = np.full(k, 1.0 / k)
    model.means_ = means
    model.covariances_ = covariances
    model.precisions_ = precisions
    model.precisions_cholesky_ = prec_chol
    model.classes_ = np.arange(k)
    model.n_features_in_ = d
    model.converged_, model.n_iter_, model.lower_bound_ = True, 1, 0.0
    model.lower_bounds_ = [0.0]
    built = time.perf_counter() - t0
    X = _rows(100, d)
    reference = model.predict(X)
    t0 = time.perf_counter()
    model.save(args.path, shards=args.shards)
    saved = time.perf_counter() - t0
    np.save(args.path + ".labels.npy", reference)
    size = sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(args.path) for f in files)
    return {"build_s": built, "save_s": saved, "store_bytes": size,
            "precisions_cholesky_bytes": prec_chol.nbytes,
            "block_arrays_bytes": means.nbytes + 3 * prec_chol.nbytes}


def _rows(n, d):
    import numpy as np

    return np.random.default_rng([SEED, n]).standard_normal((n, d)) * 3.0


def _predict(args):
    import resource

    import dask
    import dask.array as da
    import numpy as np
    from threadpoolctl import threadpool_limits

    import daskmix

    client = None
    if args.scheduler == "cluster":
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        context = dask.config.set(scheduler=client)
    else:
        context = dask.config.set(scheduler="threads", num_workers=2)
    # one BLAS thread per task, as daskmix's own computes run them (worker
    # processes of distributed get OMP_NUM_THREADS=1 from it)
    with context, threadpool_limits(1):
        t0 = time.perf_counter()
        model = daskmix.load(args.path)
        load_s = time.perf_counter() - t0
        X = _rows(args.rows, model.n_features_in_)
        X = da.from_array(X, chunks=(min(args.rows, args.chunk_rows), -1))
        t0 = time.perf_counter()
        model.predict(X[:10]).compute()  # warm-up: imports and compilation in the workers
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        labels = model.predict(X).compute()
        predict_s = time.perf_counter() - t0
    out = {"scheduler": args.scheduler, "rows": args.rows, "load_s": load_s,
           "warm_up_s": warm_s,
           "predict_s": predict_s,
           "client_peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "lazy": type(model.precisions_cholesky_).__module__.startswith("dask")}
    if args.rows == 100:
        out["labels_match"] = bool(np.array_equal(labels, np.load(args.path + ".labels.npy")))
    if client is not None:
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        out["worker_peak_rss"] = sorted(peaks.values())
        client.close()
        cluster.close()
    return out


def _child(phase, args):
    command = [sys.executable, __file__, "--phase", phase, "--path", args.path,
               "--components", str(args.components), "--features", str(args.features),
               "--shards", str(args.shards), "--rows", str(args.rows),
               "--scheduler", args.scheduler, "--chunk-rows", str(args.chunk_rows)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=["save", "predict"], default=None)
    parser.add_argument("--path", default=None)
    parser.add_argument("--dir", default=None, help="where the store goes (default: a temp dir)")
    parser.add_argument("--components", type=int, default=8192)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--chunk-rows", type=int, default=12500)
    parser.add_argument("--scheduler", choices=["threads", "cluster"], default="threads")
    parser.add_argument("--large-rows", type=int, default=100_000)
    parser.add_argument("--schedulers", nargs="+", default=["threads", "cluster"],
                        choices=["threads", "cluster"])
    parser.add_argument("--no-small", action="store_true", help="skip the 100-row predicts")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    args = parser.parse_args()
    if args.phase is not None:
        result = _save(args) if args.phase == "save" else _predict(args)
        print(json.dumps(result))
        return
    if args.quick:
        args.components, args.features, args.large_rows = 512, 32, 10_000
        args.chunk_rows = 2500
    directory = tempfile.mkdtemp(prefix="bench-sharded-", dir=args.dir)
    args.path = os.path.join(directory, "model.zarr")
    try:
        print(f"K={args.components} full, {args.features} features, {args.shards} shards; "
              f"store {args.path}")
        saved = _child("save", args)
        print(f"save: {saved['save_s']:.1f} s for {saved['store_bytes'] / 1e9:.2f} GB on disk "
              f"(per-component arrays {saved['block_arrays_bytes'] / 1e9:.2f} GB, "
              f"precisions_cholesky_ {saved['precisions_cholesky_bytes'] / 1e9:.2f} GB); "
              f"building the model took {saved['build_s']:.1f} s")
        model_gb = saved["precisions_cholesky_bytes"] / 1e9
        for scheduler in args.schedulers:
            for rows in ((args.large_rows,) if args.no_small else (100, args.large_rows)):
                args.scheduler, args.rows = scheduler, rows
                r = _child("predict", args)
                line = (f"{scheduler:8s} {rows:>7,} rows: load {r['load_s']:.2f} s, warm-up "
                        f"predict of 10 rows {r['warm_up_s']:.1f} s, predict "
                        f"{r['predict_s']:.1f} s ({rows / r['predict_s']:,.0f} rows/s), "
                        f"loading process peak RSS {r['client_peak_rss'] / 1e9:.2f} GB "
                        f"({r['client_peak_rss'] / 1e9 / model_gb:.0%} of the precision "
                        "factors)")
                if "worker_peak_rss" in r:
                    line += ", workers " + " / ".join(
                        f"{p / 1e9:.2f}" for p in r["worker_peak_rss"]) + " GB"
                if "labels_match" in r:
                    line += f", labels equal the in-memory model's: {r['labels_match']}"
                print(line, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
