"""BayesianGaussianMixture: seconds per batch-VI iteration against scikit-learn's, same start.

Run from the repository root::

    python benchmarks/bench_bayesian.py                  # 1,000,000 x 32, K=32, diag and full
    python benchmarks/bench_bayesian.py --quick          # small shapes, a smoke run

Both estimators fit the same in-memory float64 array from the same initial
responsibilities (``init_params="random_from_data"`` with the same
``random_state``: both draw the same rows), with a Dirichlet-process prior
and ``tol=0``, so they run exactly ``max_iter`` iterations. After a warm-up
fit of each, the per-iteration cost is the difference of two fits with
``--iters-low`` and ``--iters-high`` iterations divided by the difference
in iterations (this cancels validation, initialisation and daskmix's pass
for the default priors). The estimators are timed ``--repeats`` times,
interleaved; the best and the median are reported, with the relative
difference of the two fits' lower bounds.
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
    per_iter = {label: [] for label in makers}
    fitted = {}
    span = args.iters_high - args.iters_low
    for _ in range(args.repeats):
        for label, make in makers.items():
            low, _ = fit_seconds(make, X, args.iters_low)
            high, fitted[label] = fit_seconds(make, X, args.iters_high)
            per_iter[label].append((high - low) / span)
    best = {label: min(v) for label, v in per_iter.items()}
    median = {label: statistics.median(v) for label, v in per_iter.items()}
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
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}", flush=True)
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
