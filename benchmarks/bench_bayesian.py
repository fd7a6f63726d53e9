"""BayesianGaussianMixture: seconds per batch-VI iteration against scikit-learn's, same start.

Run from the repository root::

    python benchmarks/bench_bayesian.py                  # 1,000,000 x 32, K=32, diag and full
    python benchmarks/bench_bayesian.py --dp             # the Dirichlet process from 1,024
    python benchmarks/bench_bayesian.py --quick          # small shapes, a smoke run

Both estimators fit the same in-memory float64 array from the same initial
responsibilities (``init_params="random_from_data"`` with the same
``random_state``: both draw the same rows), with a Dirichlet-process prior
and ``tol=0``, so they run exactly ``max_iter`` iterations. After a warm-up
fit of each, the per-iteration cost is the difference of two fits with
``--iters-low`` and ``--iters-high`` iterations divided by the difference
in iterations (this cancels validation, initialisation and daskmix's pass
for the default priors); "best" subtracts the fastest short fit from the
fastest long one, "median" the median from the median. The estimators are timed ``--repeats`` times,
interleaved; the best and the median are reported, with the relative
difference of the two fits' lower bounds.

``--dp``: a Dirichlet-process mixture (diag, ``weight_concentration_prior``
1e-3) started with 1,024 components on 1,000,000 x 32 rows drawn from 50
blobs, fitted to convergence by ``algorithm="truncated"`` (``n_active=3``,
``n_neighbors=15``, ``init_params="kmeans"``, the scalable initialisation;
``tol`` 1e-6 times the number of rows, as the lower bound is a sum over
them; at most 300 iterations);
reported: the effective components (weights above 1e-3), the whole fit's
time and its time per iteration (warm-up passes and initialisation
included), against batch VI's seconds per iteration with 1,024 components
(the difference of two fits, as above, started by ``"random_from_data"``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from bench_em import fit_seconds, make_data
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

from daskmix import BayesianGaussianMixture

CASES = {
    "diag-1m": dict(n_samples=1_000_000, n_features=32, n_components=32, covariance_type="diag"),
    "full-1m": dict(n_samples=1_000_000, n_features=32, n_components=32, covariance_type="full"),
}
QUICK = {
    "diag-1m": dict(n_samples=50_000, n_features=16, n_components=8, covariance_type="diag"),
    "full-1m": dict(n_samples=20_000, n_features=16, n_components=8, covariance_type="full"),
}


def run_case(name, spec, args):
    """Per-iteration seconds of both estimators on one case (best and median)."""
    X, _ = make_data(spec["n_samples"], spec["n_features"], spec["n_components"], np.float64)
    k = spec["n_components"]
    common = dict(covariance_type=spec["covariance_type"], tol=0.0,
                  init_params="random_from_data", random_state=0)
    makers = {
        "scikit-learn": lambda it: SkBayesianGaussianMixture(n_components=k, max_iter=it,
                                                            **common),
        "daskmix": lambda it: BayesianGaussianMixture(k, max_iter=it, **common),
    }
    for make in makers.values():  # warm-up: page faults, thread pools, numba
        fit_seconds(make, X, 1)
    lows = {label: [] for label in makers}
    highs = {label: [] for label in makers}
    fitted = {}
    span = args.iters_high - args.iters_low
    for _ in range(args.repeats):
        for label, make in makers.items():
            low, _ = fit_seconds(make, X, args.iters_low)
            high, fitted[label] = fit_seconds(make, X, args.iters_high)
            lows[label].append(low)
            highs[label].append(high)
    # the best (median) short fit is subtracted from the best (median) long
    # one: pairing them per repeat let one slow short fit give a negative time
    best = {label: (min(highs[label]) - min(lows[label])) / span for label in makers}
    median = {label: (statistics.median(highs[label]) - statistics.median(lows[label])) / span
              for label in makers}
    reference = float(np.ravel(fitted["scikit-learn"].lower_bound_)[0])
    return {
        "case": f"{name} float64",
        "sklearn s/iter best": best["scikit-learn"],
        "daskmix s/iter best": best["daskmix"],
        "speed-up best": best["scikit-learn"] / best["daskmix"],
        "sklearn s/iter median": median["scikit-learn"],
        "daskmix s/iter median": median["daskmix"],
        "speed-up median": median["scikit-learn"] / median["daskmix"],
        "lower bound rel. diff": abs(fitted["daskmix"].lower_bound_ - reference) / abs(reference),
    }


DP = dict(n_samples=1_000_000, n_features=32, n_blobs=50, n_components=1024)
DP_QUICK = dict(n_samples=50_000, n_features=8, n_blobs=10, n_components=128)


def blobs(n_samples, n_features, n_blobs, seed=0):
    """Rows from ``n_blobs`` unit-variance blobs with random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(n_blobs, n_features))
    return centres[rng.integers(n_blobs, size=n_samples)] + rng.normal(
        size=(n_samples, n_features))


def run_dp(spec, args):
    """Effective components and times of the truncated Dirichlet-process fit."""
    X = blobs(spec["n_samples"], spec["n_features"], spec["n_blobs"])
    k = spec["n_components"]
    common = dict(covariance_type="diag", weight_concentration_prior=1e-3, random_state=0)
    # scikit-learn's lower bound is a sum over the rows: tol per row 1e-6
    truncated = lambda it: BayesianGaussianMixture(  # noqa: E731
        k, algorithm="truncated", n_active=3, n_neighbors=15, max_iter=it,
        tol=1e-6 * len(X), **common)
    batch = lambda it: BayesianGaussianMixture(  # noqa: E731
        k, init_params="random_from_data", tol=0.0, max_iter=it, **common)
    fit_seconds(truncated, X[: len(X) // 10], 2)  # warm-up: numba, thread pools
    seconds, model = fit_seconds(truncated, X, 300)
    low, _ = fit_seconds(batch, X, 1)
    high, _ = fit_seconds(batch, X, 1 + args.dp_batch_iters)
    batch_per_iter = (high - low) / args.dp_batch_iters
    effective = int(np.sum(model.weights_ > 1e-3))
    return {
        "case": f"{len(X):,} x {X.shape[1]}, {spec['n_blobs']} blobs, K={k}",
        "effective components": effective,
        "truncated n_iter": model.n_iter_,
        "truncated converged": model.converged_,
        "truncated fit s": seconds,
        "truncated s/iter (whole fit)": seconds / model.n_iter_,
        "batch VI s/iter": batch_per_iter,
        "batch s/iter / truncated s/iter": batch_per_iter / (seconds / model.n_iter_),
    }


def print_table(rows):
    """The rows as a Markdown table."""
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{row[h]:.3g}" if isinstance(row[h], float) else str(row[h]) for h in header]
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes (smoke run)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters-low", type=int, default=2)
    parser.add_argument("--iters-high", type=int, default=6)
    parser.add_argument("--dp", action="store_true",
                        help="the Dirichlet-process fit from 1,024 components instead")
    parser.add_argument("--dp-batch-iters", type=int, default=2,
                        help="iterations of batch VI timed for --dp")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    if args.dp:
        t = time.perf_counter()
        row = run_dp(DP_QUICK if args.quick else DP, args)
        print(f"({time.perf_counter() - t:.0f} s)")
        print(f"load average at end: {os.getloadavg()}\n")
        print_table([row])
        return 0
    specs = QUICK if args.quick else CASES
    rows = []
    for name in args.cases.split(","):
        t = time.perf_counter()
        rows.append(run_case(name, specs[name], args))
        print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in rows[-1].items()),
              f"({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"load average at end: {os.getloadavg()}\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
