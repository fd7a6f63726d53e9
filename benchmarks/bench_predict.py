"""Predict throughput of a truncated fit: truncated inference against the exact computation.

Run from the repository root::

    python benchmarks/bench_predict.py              # 200,000 x 32 float32, K = 1024 and 16384
    python benchmarks/bench_predict.py --quick      # small shapes, a smoke run

The data are Gaussian blobs (``--n-centres`` centres drawn from N(0, 4**2 I),
unit noise), float32, in memory (NumPy input: the estimator chunks it and
the local threaded scheduler runs the blocks). For each K a model is fitted
with ``algorithm="truncated"`` (``n_active=3``, ``n_neighbors=15``, diagonal
covariances, ``max_iter=2``) from K data rows as means (equal weights, unit
precisions), so the fit is quick and does not depend on the initialisation
method. Then ``predict(X)`` is timed with ``inference="truncated"`` (the
default for this model) and ``inference="exact"``: the first truncated call
(it builds the tree over the means, once per fitted model) separately, then
the best of ``--repeats`` interleaved calls of each. Rows per second are
``n_samples`` over that time. The table also gives the agreement of the two
labels and the mean gap of ``score_samples`` (exact minus truncated, never
negative).
"""

from __future__ import annotations

import argparse
import time
import warnings

import dask
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from daskmix import GaussianMixture

FULL = dict(n_samples=200_000, n_features=32, n_centres=4096, ks=(1024, 16384))
QUICK = dict(n_samples=20_000, n_features=8, n_centres=256, ks=(64, 512))


def make_data(n_samples, n_features, n_centres, seed=0):
    """Blobs: centres from N(0, 16 I), unit noise, float32."""
    rng = np.random.RandomState(seed)
    centres = 4.0 * rng.randn(n_centres, n_features)
    labels = rng.randint(n_centres, size=n_samples)
    return (centres[labels] + rng.randn(n_samples, n_features)).astype(np.float32)


def fit(X, k):
    """A quick truncated fit (two iterations from K data rows as means)."""
    rng = np.random.RandomState(1)
    means = X[rng.choice(len(X), k, replace=False)].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(
            k, covariance_type="diag", algorithm="truncated", n_active=3, n_neighbors=15,
            max_iter=2, tol=0.0, random_state=0, weights_init=np.full(k, 1.0 / k),
            means_init=means, precisions_init=np.ones((k, X.shape[1])),
        ).fit(X)


def timed(call):
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shape = QUICK if args.quick else FULL
    X = make_data(shape["n_samples"], shape["n_features"], shape["n_centres"])
    n = len(X)
    print(f"{n} rows x {X.shape[1]} float32 features, {shape['n_centres']} blobs")
    print(f"{'K':>6} {'fit s':>7} {'first s':>8} {'trunc rows/s':>13} {'exact rows/s':>13} "
          f"{'agree':>7} {'score gap':>10}")
    with dask.config.set(scheduler="threads"):
        for k in shape["ks"]:
            fit_time, gm = timed(lambda k=k: fit(X, k))
            first, labels = timed(lambda gm=gm: gm.predict(X))
            best = {"truncated": np.inf, "exact": np.inf}
            exact_labels = None
            for _ in range(args.repeats):
                for mode in best:
                    gm.set_params(inference=mode)
                    seconds, out = timed(lambda gm=gm: gm.predict(X))
                    best[mode] = min(best[mode], seconds)
                    if mode == "exact":
                        exact_labels = out
            gm.set_params(inference="truncated")
            truncated_scores = gm.score_samples(X)
            gm.set_params(inference="exact")
            gap = float(np.mean(gm.score_samples(X).astype(np.float64) - truncated_scores))
            agree = float(np.mean(labels == exact_labels))
            print(f"{k:>6} {fit_time:>7.1f} {first:>8.2f} {n / best['truncated']:>13,.0f} "
                  f"{n / best['exact']:>13,.0f} {agree:>7.4f} {gap:>10.2e}")


if __name__ == "__main__":
    main()
