"""Seconds per PCA fit: daskmix IncrementalPCA against scikit-learn and dask-ml, same data.

Run from the repository root::

    python benchmarks/bench_pca.py            # 1,000,000 x 32 float64
    python benchmarks/bench_pca.py --quick    # 50,000 x 16, a smoke run

One data set, generated once: blobs with correlated features, in memory as a
NumPy array for scikit-learn and as a dask array over the same memory
(chunks of ``default_chunk_rows`` rows, the chunking daskmix gives NumPy
input) for daskmix and dask-ml. Timed, each ``--repeats`` times, interleaved,
after one warm-up fit each:

- daskmix ``IncrementalPCA.fit`` on the dask array (exact PCA, one pass, local
  threaded scheduler);
- scikit-learn ``IncrementalPCA.fit`` with ``batch_size`` = the chunk rows;
- scikit-learn ``PCA.fit`` (its default solver, printed);
- dask-ml ``IncrementalPCA.fit`` on the dask array with the same
  ``batch_size``, when dask_ml imports (an optional column).

The table gives median seconds, each one's ratio to daskmix, and how far each
explained variance is from the exact one (scikit-learn's ``PCA`` with
``svd_solver="full"``, fitted once), as the largest relative difference.
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
import sklearn
from sklearn.decomposition import PCA
from sklearn.decomposition import IncrementalPCA as SkIncrementalPCA

import daskmix
from daskmix import IncrementalPCA
from daskmix._validation import default_chunk_rows

SHAPES = {"full": (1_000_000, 32), "quick": (50_000, 16)}


def make_data(n_samples, n_features, n_blobs=8, seed=0):
    """Blobs in correlated features, offset from the origin (float64)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_blobs, n_features))
    mixing = np.eye(n_features) + 0.3 * rng.normal(size=(n_features, n_features))
    X = np.empty((n_samples, n_features))
    step = 100_000
    for start in range(0, n_samples, step):  # bounded temporaries
        rows = min(step, n_samples - start)
        labels = rng.integers(n_blobs, size=rows)
        X[start : start + rows] = (centres[labels] + rng.normal(size=(rows, n_features))) @ mixing
    X += 10.0
    return X


def dask_ml_factory():
    """dask-ml's IncrementalPCA class, or None (with the reason) when it does not import."""
    try:
        from dask_ml.decomposition import IncrementalPCA as DaskMLIncrementalPCA
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"
    return DaskMLIncrementalPCA, None


def timed_fit(make, X):
    """Seconds to fit ``make()`` on ``X``, and the fitted estimator."""
    estimator = make()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # dask-ml's 0/0 in a batch
        estimator.fit(X)
    return time.perf_counter() - t, estimator


def relative_gap(estimator, exact):
    """Largest relative difference of explained variances from the exact PCA's."""
    ours = np.asarray(estimator.explained_variance_, dtype=np.float64)
    return float(np.max(np.abs(ours / exact.explained_variance_ - 1)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 x 16 (smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--no-dask-ml", action="store_true", help="leave dask-ml out")
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_info

    n_samples, n_features = SHAPES["quick" if args.quick else "full"]
    k = args.n_components
    blas = {(i["internal_api"], i.get("architecture"), i["num_threads"])
            for i in threadpool_info() if i["user_api"] == "blas"}
    DaskMLIncrementalPCA, why = (None, "--no-dask-ml") if args.no_dask_ml else dask_ml_factory()
    versions = {"numpy": np.__version__, "dask": dask.__version__,
                "scikit-learn": sklearn.__version__, "daskmix": daskmix.__version__}
    if DaskMLIncrementalPCA is not None:
        import dask_ml

        versions["dask-ml"] = dask_ml.__version__
    print("versions: " + ", ".join(f"{name} {v}" for name, v in versions.items()))
    print(f"BLAS (api, architecture, threads): {sorted(blas)}")
    if DaskMLIncrementalPCA is None:
        print(f"no dask-ml column ({why})")

    X = make_data(n_samples, n_features)
    chunk_rows = default_chunk_rows(n_samples, n_features)
    Xd = da.from_array(X, chunks=(chunk_rows, n_features))
    print(f"data: {n_samples:,} x {n_features} float64 ({X.nbytes / 1e6:.0f} MB), "
          f"{Xd.numblocks[0]} chunks of {chunk_rows:,} rows, n_components={k}", flush=True)

    makers = {
        "daskmix IncrementalPCA": (lambda: IncrementalPCA(k), Xd),
        "sklearn IncrementalPCA": (lambda: SkIncrementalPCA(k, batch_size=chunk_rows), X),
        "sklearn PCA": (lambda: PCA(k), X),
    }
    if DaskMLIncrementalPCA is not None:
        makers["dask-ml IncrementalPCA"] = (
            lambda: DaskMLIncrementalPCA(k, batch_size=chunk_rows), Xd
        )
    exact = PCA(k, svd_solver="full").fit(X)
    fitted = {}
    for label, (make, data) in makers.items():  # warm-up: page faults, thread pools
        _, fitted[label] = timed_fit(make, data)
    print(f"scikit-learn PCA's solver: {fitted['sklearn PCA']._fit_svd_solver}")
    seconds = {label: [] for label in makers}
    for _ in range(args.repeats):
        for label, (make, data) in makers.items():
            elapsed, fitted[label] = timed_fit(make, data)
            seconds[label].append(elapsed)
    medians = {label: statistics.median(v) for label, v in seconds.items()}
    base = medians["daskmix IncrementalPCA"]

    print()
    print("| estimator | median s | x daskmix time | max rel. diff. of explained_variance_ "
          "from exact PCA |")
    print("|---|---|---|---|")
    for label in makers:
        print(f"| {label} | {medians[label]:.3g} | {medians[label] / base:.3g} | "
              f"{relative_gap(fitted[label], exact):.2g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
