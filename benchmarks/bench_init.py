"""k-means initialisation of GaussianMixture: daskmix against scikit-learn, same data.

Run from the repository root::

    python benchmarks/bench_init.py            # 1,000,000 x 32, 32 components, diag
    python benchmarks/bench_init.py --quick    # small shapes, a smoke run
    python benchmarks/bench_init.py --quality  # four data sets x 10 seeds (see below)

Two figures per library, on the same in-memory array:

* **Initialisation time.** ``init_params="kmeans"`` with ``tol=0``: a fit
  with one EM iteration minus the cost of one iteration, where the cost of
  an iteration is the difference of fits with 3 and 1 iterations halved.
  Best and median of ``--repeats`` interleaved runs, after a warm-up fit.
* **Where it leads.** A fit to convergence (``tol=1e-3``, ``max_iter=100``)
  from each of ``--seeds`` random states; the final ``lower_bound_`` (mean
  log-likelihood per sample) is reported as a median over seeds, and the
  relative gap ``(sklearn - daskmix) / |sklearn|`` (positive when daskmix
  ends lower).

A third row times the documented subsample warm start: fit on every tenth
row with ``warm_start=True``, then fit all rows from that solution.

``--quality`` fits both libraries with every setting at its default
(``init_params="kmeans"``, ``tol=1e-3``, ``max_iter=100``, ``n_init=1``)
but the covariance type, from ``--seeds`` random states (default 10 there),
on four data sets (:data:`QUALITY_SETS`), and reports per data set the
median final ``lower_bound_`` of each library, the gap, and the median
``n_iter_`` (daskmix's initialisation runs no EM iteration, so ``n_iter_``
counts all of them):

* overlapping blobs: 100,000 x 8 rows of 12 unequal blobs, 6 components,
  diag (fewer components than blobs, so k-means must choose how to merge);
* scikit-learn's ``load_digits`` (1,797 x 64), 10 components, full and diag
  (in memory and small: daskmix runs inline, and many pixels are constant
  within a digit, so the result hinges on which partition the start picks);
* correlated blobs: 200,000 x 16 rows of 16 blobs with random full
  covariances and unequal weights, 8 components, full, given to daskmix as
  a dask array of 8 chunks (full covariances and a chunked array larger than
  the initialisation's row sample: what neither of the others covers).
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

SHAPE = dict(n_samples=1_000_000, n_features=32, n_components=32)
QUICK = dict(n_samples=50_000, n_features=8, n_components=8)


def make_data(n_samples, n_features, n_components, seed=0, separation=1.0):
    """Unequal, partly overlapping Gaussian blobs (so that the start matters)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation * 3, size=(n_components, n_features))
    scales = rng.uniform(0.5, 1.5, size=(n_components, n_features))
    weights = rng.dirichlet(np.full(n_components, 5.0))
    labels = rng.choice(n_components, size=n_samples, p=weights)
    return centres[labels] + rng.normal(size=(n_samples, n_features)) * scales[labels]


def make_correlated(n_samples, n_features, n_blobs, seed=0):
    """Blobs with random full covariances and unequal weights."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(n_blobs, n_features))
    factors = rng.normal(size=(n_blobs, n_features, n_features)) / np.sqrt(n_features)
    factors *= rng.uniform(0.5, 2.0, size=(n_blobs, 1, 1))
    weights = rng.dirichlet(np.full(n_blobs, 2.0))
    labels = rng.choice(n_blobs, size=n_samples, p=weights)
    noise = rng.normal(size=(n_samples, n_features))
    return centres[labels] + np.einsum("nij,nj->ni", factors[labels], noise)


def _digits():
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.float64)


#: name -> (data maker, n_components, covariance_type, rows per daskmix chunk or None)
QUALITY_SETS = {
    "overlapping blobs 100,000 x 8, K=6, diag":
        (lambda: make_data(100_000, 8, 12), 6, "diag", None),
    "digits 1,797 x 64, K=10, full": (_digits, 10, "full", None),
    "digits 1,797 x 64, K=10, diag": (_digits, 10, "diag", None),
    "correlated blobs 200,000 x 16, K=8, full (dask, 8 chunks)":
        (lambda: make_correlated(200_000, 16, 16), 8, "full", 25_000),
}


def quality(seeds):
    """Median final lower bound and EM iterations of both libraries' defaults."""
    import dask.array as da

    print(f"{seeds} seeds per data set; every setting at its default but covariance_type")
    print()
    print("| data set | scikit-learn lower bound | daskmix lower bound | gap "
          "| scikit-learn n_iter_ | daskmix n_iter_ | iterations ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    details = {}
    for name, (make, k, covariance_type, chunk_rows) in QUALITY_SETS.items():
        X = make()
        Xd = X if chunk_rows is None else da.from_array(X, chunks=(chunk_rows, -1))
        runs = {"scikit-learn": [], "daskmix": []}
        for seed in range(seeds):
            for label, cls, data in (("scikit-learn", SkGaussianMixture, X),
                                     ("daskmix", GaussianMixture, Xd)):
                _, fitted = _fit(cls(k, covariance_type=covariance_type, random_state=seed),
                                 data)
                runs[label].append((float(fitted.lower_bound_), int(fitted.n_iter_)))
        sk_ll, dm_ll = (statistics.median(v[0] for v in runs[label]) for label in runs)
        sk_it, dm_it = (statistics.median(v[1] for v in runs[label]) for label in runs)
        print(f"| {name} | {sk_ll:.5f} | {dm_ll:.5f} | {100 * (sk_ll - dm_ll) / abs(sk_ll):+.3f} % "
              f"| {sk_it:g} | {dm_it:g} | {dm_it / sk_it:.2f} |", flush=True)
        details[name] = runs
    print()
    print("gap = (scikit-learn - daskmix) / |scikit-learn| (negative: daskmix higher)")
    for name, runs in details.items():
        print(f"per-seed (lower bound, n_iter_), {name}:")
        for label, values in runs.items():
            print(f"  {label}: {[(round(ll, 4), n) for ll, n in values]}")
    return 0


def _fit(estimator, X):
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)
    return time.perf_counter() - t, estimator


def init_seconds(make, X):
    """Seconds of the initialisation alone: fit(1 iter) minus one iteration."""
    one, _ = _fit(make(max_iter=1, tol=0.0), X)
    three, _ = _fit(make(max_iter=3, tol=0.0), X)
    return one - (three - one) / 2


def subsample_warm_start(make, X, step=10):
    """Fit every ``step``-th row, then all rows from that solution (warm start)."""
    estimator = make(warm_start=True)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X[::step])
        estimator.fit(X)
    return time.perf_counter() - t, estimator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes (smoke run)")
    parser.add_argument("--covariance-type", default="diag")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=None,
                        help="random states (default 3, or 10 with --quality)")
    parser.add_argument("--quality", action="store_true",
                        help="both defaults on four data sets (module notes)")
    args = parser.parse_args(argv)
    if args.quality:
        return quality(args.seeds or 10)
    args.seeds = args.seeds or 3

    shape = QUICK if args.quick else SHAPE
    X = make_data(**shape)
    k = shape["n_components"]
    common = dict(covariance_type=args.covariance_type, init_params="kmeans")
    libraries = {
        "scikit-learn": lambda seed=0, **kw: SkGaussianMixture(k, random_state=seed,
                                                               **common, **kw),
        "daskmix": lambda seed=0, **kw: GaussianMixture(k, random_state=seed, **common, **kw),
    }
    print(f"{X.shape[0]:,} x {X.shape[1]}, {k} components, {args.covariance_type}", flush=True)

    for make in libraries.values():  # warm-up: page faults, thread pools
        _fit(make(max_iter=1), X)
    init = {label: [] for label in libraries}
    for _ in range(args.repeats):
        for label, make in libraries.items():
            init[label].append(init_seconds(make, X))
    init_runs = init
    init_best = {label: min(v) for label, v in init.items()}
    init = {label: statistics.median(v) for label, v in init.items()}

    final, fit_time = {label: [] for label in libraries}, {label: [] for label in libraries}
    for seed in range(args.seeds):
        for label, make in libraries.items():
            seconds, fitted = _fit(make(seed), X)
            final[label].append(float(fitted.lower_bound_))
            fit_time[label].append(seconds)
    warm_seconds, warm = subsample_warm_start(libraries["daskmix"], X)

    sk_ll = statistics.median(final["scikit-learn"])
    print()
    print("| library | init s (median) | init speed-up (median) | init s (best) "
          "| init speed-up (best) | fit to convergence s | final lower bound "
          "(median of seeds) | gap vs scikit-learn |")
    print("|---|---|---|---|---|---|---|---|")
    for label in libraries:
        ll = statistics.median(final[label])
        print(f"| {label} | {init[label]:.3g} | {init['scikit-learn'] / init[label]:.3g} "
              f"| {init_best[label]:.3g} | {init_best['scikit-learn'] / init_best[label]:.3g} "
              f"| {statistics.median(fit_time[label]):.3g} | {ll:.6g} "
              f"| {100 * (sk_ll - ll) / abs(sk_ll):+.3f} % |")
    print(f"| daskmix, 10% subsample then warm start | | | | | {warm_seconds:.3g} "
          f"| {warm.lower_bound_:.6g} | {100 * (sk_ll - warm.lower_bound_) / abs(sk_ll):+.3f} % |")
    print()
    print("init s per repeat:", {label: [round(v, 3) for v in values]
                                for label, values in init_runs.items()})
    print()
    print("per-seed lower bounds:",
          {label: [round(v, 5) for v in values] for label, values in final.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
