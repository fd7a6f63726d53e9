"""k-means initialisation of GaussianMixture: daskmix against scikit-learn, same data.

Run from the repository root::

    python benchmarks/bench_init.py            # 1,000,000 x 32, 32 components, diag
    python benchmarks/bench_init.py --quick    # small shapes, a smoke run

Two figures per library, on the same in-memory array:

* **Initialisation time.** ``init_params="kmeans"`` with ``tol=0``: a fit
  with one EM iteration minus the cost of one iteration, where the cost of
  an iteration is the difference of fits with 3 and 1 iterations halved.
  Medians of ``--repeats`` interleaved runs, after a warm-up fit.
* **Where it leads.** A fit to convergence (``tol=1e-3``, ``max_iter=100``)
  from each of ``--seeds`` random states; the final ``lower_bound_`` (mean
  log-likelihood per sample) is reported as a median over seeds, and the
  relative gap ``(sklearn - daskmix) / |sklearn|`` (positive when daskmix
  ends lower).

A third row times the documented subsample warm start: fit on every tenth
row with ``warm_start=True``, then fit all rows from that solution.
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
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)

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
    print("| library | init s | init speed-up | fit to convergence s | final lower bound "
          "(median of seeds) | gap vs scikit-learn |")
    print("|---|---|---|---|---|---|")
    for label in libraries:
        ll = statistics.median(final[label])
        print(f"| {label} | {init[label]:.3g} | {init['scikit-learn'] / init[label]:.3g} "
              f"| {statistics.median(fit_time[label]):.3g} | {ll:.6g} "
              f"| {100 * (sk_ll - ll) / abs(sk_ll):+.3f} % |")
    print(f"| daskmix, 10% subsample then warm start | | | {warm_seconds:.3g} "
          f"| {warm.lower_bound_:.6g} | {100 * (sk_ll - warm.lower_bound_) / abs(sk_ll):+.3f} % |")
    print()
    print("per-seed lower bounds:",
          {label: [round(v, 5) for v in values] for label, values in final.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
