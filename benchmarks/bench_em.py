"""Seconds per EM iteration: daskmix against scikit-learn, same data, same start.

Run from the repository root::

    python benchmarks/bench_em.py                 # the issue's four cases
    python benchmarks/bench_em.py --quick         # small shapes, a smoke run

For each case both estimators get the same in-memory array and the same
initial weights, means and precisions, with ``tol=0`` so they run exactly
``max_iter`` iterations. After a warm-up fit, the per-iteration cost is the
difference of two fits with ``--iters-low`` and ``--iters-high`` iterations
divided by the difference in iterations (this cancels validation and
set-up). Each estimator is timed ``--repeats`` times, interleaved, and the
median is reported with the ratio. The "GEMM %" column divides the FLOPs of
the iteration's matrix products by the rate of a plain NumPy matrix product
of the same dtype measured in the same run.

Spark MLlib's GaussianMixture (full covariance only, ``local[2]``) is an
optional column when pyspark is installed (``--spark``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from daskmix import GaussianMixture

CASES = {
    "diag-1m": dict(n_samples=1_000_000, n_features=32, n_components=32, covariance_type="diag"),
    "full-200k": dict(n_samples=200_000, n_features=32, n_components=32, covariance_type="full"),
    # the Spark comparison's shape (run with --spark --no-sklearn). The blobs
    # overlap, so EM keeps moving: Spark stops as soon as the log-likelihood
    # stops changing exactly, which well-separated blobs reach in 2 iterations.
    "full-1m": dict(n_samples=1_000_000, n_features=32, n_components=32, covariance_type="full",
                    separation=0.3),
}
QUICK = {
    "diag-1m": dict(n_samples=100_000, n_features=16, n_components=8, covariance_type="diag"),
    "full-200k": dict(n_samples=20_000, n_features=16, n_components=8, covariance_type="full"),
    "full-1m": dict(n_samples=50_000, n_features=16, n_components=8, covariance_type="full",
                    separation=0.3),
}


def make_data(n_samples, n_features, n_components, dtype, seed=0, separation=4.0):
    """Blobs around random centres, and a deterministic starting point."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(n_components, n_features))
    labels = rng.integers(n_components, size=n_samples)
    X = centres[labels] + rng.normal(size=(n_samples, n_features))
    start = centres + rng.normal(scale=0.5, size=centres.shape)
    return X.astype(dtype), start


def initial_values(start, covariance_type):
    k, d = start.shape
    precisions = {
        "full": np.broadcast_to(np.eye(d), (k, d, d)).copy(),
        "tied": np.eye(d),
        "diag": np.ones((k, d)),
        "spherical": np.ones(k),
    }[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=start, precisions_init=precisions)


def iteration_flops(n_samples, n_features, n_components, covariance_type):
    """FLOPs of the matrix products of one EM iteration (E-step plus M-step).

    Counted as daskmix forms them: two products of the (n, k) responsibility
    block with a design of ``2d + 1`` columns (diag) or ``d(d+1)/2 + d + 1``
    columns (full: the expanded quadratic form in float64; the direct form
    used in float32, a triangular product plus a rank-k update per
    component, does the same count to within ``d`` per pair).
    """
    n, d, k = n_samples, n_features, n_components
    if covariance_type == "full":
        return 4 * n * k * (d * (d + 1) // 2 + d + 1)
    return 4 * n * k * (2 * d + 1)


def gemm_rate(dtype, size=2048, repeats=5):
    """FLOP/s of a plain NumPy matrix product in ``dtype``."""
    a = np.random.default_rng(0).random((size, size)).astype(dtype)
    a @ a
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t)
    return 2 * size**3 / statistics.median(times)


def fit_seconds(make_estimator, X, max_iter):
    estimator = make_estimator(max_iter)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)
    return time.perf_counter() - t, estimator


def spark_factory(k):
    """A Spark timing function, or None when pyspark is not installed."""
    try:
        from pyspark.ml.clustering import GaussianMixture as SparkGM
        from pyspark.ml.linalg import Vectors
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    spark = (SparkSession.builder.master("local[2]").appName("daskmix-bench")
             .config("spark.driver.memory", "8g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    cache = {}

    def time_spark(X, max_iter):
        key = id(X)
        if key not in cache:
            rows = [(Vectors.dense(r),) for r in X.astype(np.float64)]
            cache.clear()
            cache[key] = spark.createDataFrame(rows, ["features"]).cache()
            cache[key].count()
        model = SparkGM(k=k, maxIter=max_iter, tol=0.0, seed=0)
        t = time.perf_counter()
        fitted = model.fit(cache[key])
        seconds = time.perf_counter() - t
        if fitted.summary.numIter != max_iter:
            print(f"note: Spark stopped after {fitted.summary.numIter} of {max_iter} "
                  "iterations; its per-iteration figure uses the iterations it ran",
                  flush=True)
        return seconds, fitted.summary.numIter

    return time_spark


def run_case(name, spec, dtype, args, gemm, spark):
    X, start = make_data(spec["n_samples"], spec["n_features"], spec["n_components"], dtype,
                         separation=spec.get("separation", 4.0))
    init = initial_values(start, spec["covariance_type"])
    common = dict(covariance_type=spec["covariance_type"], tol=0.0, **init)
    k = spec["n_components"]
    makers = {
        "scikit-learn": lambda it: SkGaussianMixture(k, max_iter=it, **common),
        "daskmix": lambda it: GaussianMixture(k, max_iter=it, **common),
    }
    if args.no_sklearn:
        del makers["scikit-learn"]
    for make in makers.values():  # warm-up: page faults, thread pools
        fit_seconds(make, X, 1)
    per_iter = {label: [] for label in makers}
    fitted = {}
    span = args.iters_high - args.iters_low
    for _ in range(args.repeats):
        for label, make in makers.items():
            low, _ = fit_seconds(make, X, args.iters_low)
            high, fitted[label] = fit_seconds(make, X, args.iters_high)
            per_iter[label].append((high - low) / span)
    if spark is not None and spec["covariance_type"] == "full":
        per_iter["spark"] = []
        spark(X, 1)
        for _ in range(args.repeats):
            low, low_iters = spark(X, args.iters_low)
            high, high_iters = spark(X, args.iters_high)
            if high_iters > low_iters:
                per_iter["spark"].append((high - low) / (high_iters - low_iters))
        if not per_iter["spark"]:
            del per_iter["spark"]
    medians = {label: statistics.median(v) for label, v in per_iter.items()}
    flops = iteration_flops(spec["n_samples"], spec["n_features"], k, spec["covariance_type"])
    row = {"case": f"{name} {np.dtype(dtype).name}", "daskmix s/iter": medians["daskmix"]}
    if "scikit-learn" in medians:
        row["sklearn s/iter"] = medians["scikit-learn"]
        row["speed-up"] = medians["scikit-learn"] / medians["daskmix"]
        row["|d lower bound|"] = abs(
            fitted["daskmix"].lower_bound_ - fitted["scikit-learn"].lower_bound_
        )
    row["daskmix GEMM %"] = 100 * flops / medians["daskmix"] / gemm[np.dtype(dtype).name]
    if "spark" in medians:
        row["spark s/iter"] = medians["spark"]
        row["speed-up vs spark"] = medians["spark"] / medians["daskmix"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes (smoke run)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters-low", type=int, default=2)
    parser.add_argument("--iters-high", type=int, default=6)
    parser.add_argument("--spark", action="store_true", help="add Spark MLlib if installed")
    parser.add_argument("--no-sklearn", action="store_true",
                        help="leave scikit-learn out (e.g. for the Spark-only full-1m case)")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_info

    blas = {(i["internal_api"], i.get("architecture")) for i in threadpool_info()}
    print(f"numpy {np.__version__}, BLAS {sorted(blas)}", flush=True)
    gemm = {name: gemm_rate(np.dtype(name)) for name in ("float64", "float32")}
    print("plain GEMM: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in gemm.items()))
    spark = None
    if args.spark:
        spark = spark_factory(CASES["full-200k"]["n_components"])
        if spark is None:
            print("pyspark is not installed: no Spark column")
    specs = QUICK if args.quick else CASES
    rows = []
    for name in args.cases.split(","):
        for dtype in args.dtypes.split(","):
            row = run_case(name, specs[name], np.dtype(dtype), args, gemm, spark)
            rows.append(row)
            print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in row.items()), flush=True)
    print()
    header = list(rows[0])
    for row in rows:
        for key in row:
            if key not in header:
                header.append(key)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{row[h]:.3g}" if isinstance(row.get(h), float) else str(row.get(h, ""))
                 for h in header]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
