"""Mini-batch k-means: daskmix against scikit-learn and dask-ml, same data, one run.

Run from the repository root::

    python benchmarks/bench_kmeans.py             # 1,000,000 x 32 float64, 32 clusters
    python benchmarks/bench_kmeans.py --quick     # small shape, a smoke run

All estimators get the same in-memory float64 blobs (``bench_em.make_data``:
``n_clusters`` random centres, unit-variance noise). Timed, each a whole
``fit``:

* daskmix ``MiniBatchKMeans`` (default k-means++ seeding on a row sample, as
  scikit-learn), and again with ``init="k-means||"``;
* scikit-learn ``MiniBatchKMeans`` with the same ``batch_size`` and
  ``n_init=1``;
* dask-ml ``KMeans`` (k-means|| seeding, then full Lloyd passes) on a dask
  array of ``--chunk-rows`` rows per chunk, when dask-ml imports
  (``python -m pip install dask-ml``); ``--no-dask-ml`` leaves it out.

Each estimator is fitted once to warm up, then ``--repeats`` times,
interleaved, with ``random_state`` 0, 1, ... (the same seeds for every
estimator: one seed can land any of them in a poor local minimum, so the
medians are over seeds). The median fit time is reported with its ratio to
the fastest. Each fit's quality is the inertia of its centres on all the
data, computed here by one NumPy function for every estimator (not the
estimators' own figures); the median is reported with its ratio to the best.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
from bench_em import make_data  # same data generator as the EM benchmark
from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin_min

import daskmix
from daskmix import MiniBatchKMeans

FULL = dict(n_samples=1_000_000, n_features=32, n_clusters=32)
QUICK = dict(n_samples=50_000, n_features=16, n_clusters=8)


def inertia(X, centres, rows=100_000):
    """Sum of squared distances of every row of ``X`` to its nearest centre."""
    total = 0.0
    for start in range(0, len(X), rows):
        _, dist = pairwise_distances_argmin_min(X[start:start + rows], centres)
        total += float(dist @ dist)
    return total


def dask_ml_factory(args):
    """A fit function for dask-ml's KMeans, or None (with the reason printed)."""
    if args.no_dask_ml:
        return None
    try:
        import dask.array as da
        import dask_ml
        from dask_ml.cluster import KMeans as DaskMLKMeans
    except Exception as error:  # ImportError, or an incompatible dask
        print(f"dask-ml does not import ({type(error).__name__}: {error}): no dask-ml column")
        return None
    print(f"dask-ml {dask_ml.__version__}")
    cache = {}

    def fit(X, k, seed):
        if id(X) not in cache:
            cache.clear()
            cache[id(X)] = da.from_array(X, chunks=(args.chunk_rows, -1))
        return DaskMLKMeans(n_clusters=k, random_state=seed).fit(cache[id(X)])

    return fit


def fit_seconds(fit, X, k, seed):
    """Wall-clock seconds of ``fit(X, k, seed)`` (warnings silenced) and the fitted model."""
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = fit(X, k, seed)
    return time.perf_counter() - t, fitted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shape (smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--chunk-rows", type=int, default=125_000,
                        help="rows per chunk of dask-ml's input")
    parser.add_argument("--no-dask-ml", action="store_true", help="leave dask-ml out")
    args = parser.parse_args(argv)

    import dask
    import sklearn
    from threadpoolctl import threadpool_info

    blas = {(i["internal_api"], i.get("architecture")) for i in threadpool_info()}
    print(f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, dask "
          f"{dask.__version__}, daskmix {daskmix.__version__}, BLAS {sorted(blas)}", flush=True)
    spec = QUICK if args.quick else FULL
    X, _ = make_data(spec["n_samples"], spec["n_features"], spec["n_clusters"], np.float64)
    k, batch = spec["n_clusters"], args.batch_size
    print(f"data: {X.shape[0]:,} x {X.shape[1]} float64, {k} clusters, batch_size={batch}",
          flush=True)

    fits = {
        "daskmix MiniBatchKMeans": lambda X, k, seed: MiniBatchKMeans(
            k, batch_size=batch, n_init=1, random_state=seed).fit(X),
        "daskmix MiniBatchKMeans k-means||": lambda X, k, seed: MiniBatchKMeans(
            k, init="k-means||", batch_size=batch, n_init=1, random_state=seed).fit(X),
        "scikit-learn MiniBatchKMeans": lambda X, k, seed: SkMiniBatchKMeans(
            k, batch_size=batch, n_init=1, random_state=seed).fit(X),
    }
    dask_ml_fit = dask_ml_factory(args)
    if dask_ml_fit is not None:
        fits["dask-ml KMeans"] = dask_ml_fit
    for label, fit in fits.items():  # warm-up: page faults, thread pools, numba
        fit_seconds(fit, X, k, args.repeats)
        print(f"warmed up {label}", flush=True)
    seconds = {label: [] for label in fits}
    inertias = {label: [] for label in fits}
    steps = {}
    for seed in range(args.repeats):
        for label, fit in fits.items():
            elapsed, fitted = fit_seconds(fit, X, k, seed)
            seconds[label].append(elapsed)
            inertias[label].append(inertia(X, fitted.cluster_centers_))
            steps[label] = getattr(fitted, "n_steps_", getattr(fitted, "n_iter_", ""))
            print(f"  {label}: {elapsed:.3f} s, inertia {inertias[label][-1]:.6g}", flush=True)
    medians = {label: statistics.median(v) for label, v in seconds.items()}
    quality = {label: statistics.median(v) for label, v in inertias.items()}
    fastest, best = min(medians.values()), min(quality.values())
    print()
    print("| estimator | fit s (median) | time / fastest | inertia (median) "
          "| inertia / best | steps or iterations (last fit) |")
    print("|---|---|---|---|---|---|")
    for label in fits:
        print(f"| {label} | {medians[label]:.3g} | {medians[label] / fastest:.2f} "
              f"| {quality[label]:.6g} | {quality[label] / best:.4f} | {steps[label]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
