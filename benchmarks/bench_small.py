"""Fixed cost of small calls: daskmix against scikit-learn on small NumPy input (issue 16).

Run from the repository root::

    python benchmarks/bench_small.py                 # the targets' shapes
    python benchmarks/bench_small.py --quick         # fewer repeats, a smoke run
    python benchmarks/bench_small.py --blas-threads 1

Users call ``predict`` once per request and fit many small models in loops,
so what counts here is the fixed cost of one call, not throughput. The data
are 1,000 x 2 float64 rows from three Gaussian blobs; ``fit`` is
``GaussianMixture(n_components=3, random_state=0)`` with every other setting
at its default, in both libraries; the row-wise methods (``predict``,
``predict_proba``, ``score_samples``, ``score``) run on the first 100 rows
of a model each library fitted on the whole set. ``MiniBatchKMeans.predict``
(3 clusters) and ``IncrementalPCA.transform`` (1 component) are timed the
same way against their scikit-learn namesakes.

Every library is warmed up first (one fit and a few calls of every method:
imports, compiled kernels and thread pools are ready before timing). Then
``--repeats`` rounds interleave the libraries: in each round every
(operation, library) pair is timed once, as the mean of ``--inner`` calls
(``--fit-inner`` for fits), so a slow spell of a busy machine hits all of
them alike. The table gives the best and the median round in milliseconds
per call, and the ratio daskmix / scikit-learn of each.

A third column, ``graph``, times daskmix with inline execution switched off
(``daskmix._validation.INLINE_MAX_ROWS = 0``): every call builds and computes
a Dask graph on the local threaded scheduler, as it did before the inline
path. It shows what the inline path saves; the targets are on the default
(inline) figures: ``predict_proba`` at most 2x scikit-learn's time and
``fit`` at most 1.5x.

``--sweep`` measures where the inline path stops paying: ``predict_proba``
and a 5-iteration exact-EM fit from given parameters, inline and on the
graph path, on 1,024 to 65,536 rows (2 features and 3 full components; 16
features and 8), best of ``--repeats`` interleaved rounds. Above one
default chunk (4,096 rows) the inline rule never runs an input inline; the
sweep forces it there by replacing ``daskmix._validation.runs_inline``.

``--blas-threads N`` limits BLAS and OpenMP to ``N`` threads in both
libraries for the whole run (``threadpoolctl``): on a 2-core machine
shared with other jobs, scikit-learn's OpenMP k-means and multithreaded BLAS
calls can wait for a core for milliseconds, which swamps the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings

import numpy as np
import sklearn.cluster
import sklearn.decomposition
import sklearn.mixture
from sklearn.exceptions import ConvergenceWarning

import daskmix
import daskmix._validation

N_SAMPLES, N_FEATURES, N_COMPONENTS, N_ROWS = 1_000, 2, 3, 100


def make_data(seed=0):
    """1,000 x 2 rows from three unit blobs centred at (0, 0), (5, 5) and (0, 6)."""
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 6.0]])
    labels = rng.randint(len(centres), size=N_SAMPLES)
    return centres[labels] + rng.randn(N_SAMPLES, N_FEATURES)


@contextlib.contextmanager
def graph_path():
    """daskmix with inline execution switched off: every call builds a Dask graph.

    On a daskmix without the inline path (for before/after figures) the
    setting is ignored: both daskmix columns are then the graph path.
    """
    module = daskmix._validation
    saved = vars(module).get("INLINE_MAX_ROWS")
    module.INLINE_MAX_ROWS = 0
    try:
        yield
    finally:
        if saved is None:
            del module.INLINE_MAX_ROWS
        else:
            module.INLINE_MAX_ROWS = saved


def operations(X):
    """``{name: {library: callable}}`` of every timed call, with their fitted models."""
    rows = X[:N_ROWS]
    mixtures = {
        "sklearn": lambda: sklearn.mixture.GaussianMixture(N_COMPONENTS, random_state=0),
        "daskmix": lambda: daskmix.GaussianMixture(N_COMPONENTS, random_state=0),
    }
    kmeans = {
        "sklearn": sklearn.cluster.MiniBatchKMeans(N_COMPONENTS, random_state=0, n_init=1),
        "daskmix": daskmix.MiniBatchKMeans(N_COMPONENTS, random_state=0),
    }
    pca = {
        "sklearn": sklearn.decomposition.IncrementalPCA(1),
        "daskmix": daskmix.IncrementalPCA(1),
    }
    ops = {"fit": {lib: (lambda make=make: make().fit(X)) for lib, make in mixtures.items()}}
    fitted = {lib: make().fit(X) for lib, make in mixtures.items()}
    for method in ("predict", "predict_proba", "score_samples", "score"):
        ops[method] = {lib: getattr(model, method) for lib, model in fitted.items()}
    ops["kmeans.predict"] = {lib: model.fit(X).predict for lib, model in kmeans.items()}
    ops["ipca.transform"] = {lib: model.fit(X).transform for lib, model in pca.items()}
    return {name: {lib: (call if name == "fit" else (lambda call=call: call(rows)))
                   for lib, call in calls.items()}
            for name, calls in ops.items()}


def time_call(call, inner):
    """Mean seconds of ``inner`` calls of ``call``."""
    start = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - start) / inner


def run(ops, repeats, inner, fit_inner):
    """Interleaved rounds; ``{(name, column): [seconds per call of each round]}``."""
    columns = [("sklearn", "sklearn", False), ("daskmix", "daskmix", False),
               ("graph", "daskmix", True)]
    for calls in ops.values():  # warm-up: every call, both paths, a few times
        for _, lib, graph in columns:
            with graph_path() if graph else contextlib.nullcontext():
                time_call(calls[lib], 3)
    times = {}
    for _ in range(repeats):
        for name, calls in ops.items():
            for column, lib, graph in columns:
                with graph_path() if graph else contextlib.nullcontext():
                    n = fit_inner if name == "fit" else inner
                    times.setdefault((name, column), []).append(time_call(calls[lib], n))
    return times


def report(ops, times):
    header = (f"{'operation':<16} {'sklearn ms':>18} {'daskmix ms':>18} {'graph ms':>18} "
              f"{'daskmix/sklearn':>16}")
    print(header)
    print(f"{'':<16} {'best / median':>18} {'best / median':>18} {'best / median':>18} "
          f"{'best / median':>16}")
    for name in ops:
        cells, best, median = [], {}, {}
        for column in ("sklearn", "daskmix", "graph"):
            values = times[(name, column)]
            best[column], median[column] = min(values) * 1e3, statistics.median(values) * 1e3
            cells.append(f"{best[column]:8.3f} / {median[column]:7.3f}")
        ratio = (f"{best['daskmix'] / best['sklearn']:6.2f} / "
                 f"{median['daskmix'] / median['sklearn']:5.2f}")
        print(f"{name:<16} {cells[0]:>18} {cells[1]:>18} {cells[2]:>18} {ratio:>16}")


SWEEP_ROWS = (1_024, 4_096, 16_384, 65_536)
SWEEP_SHAPES = ((2, 3), (16, 8))


@contextlib.contextmanager
def forced_inline():
    """Every in-memory input inline, whatever its size (for the sweep only)."""
    module = daskmix._validation
    saved = module.runs_inline
    module.runs_inline = lambda X: True
    try:
        yield
    finally:
        module.runs_inline = saved


def sweep(repeats):
    """Best ms of predict_proba and of a 5-iteration fit, inline and graph, by size."""
    print(f"{'features':>8} {'K':>3} {'rows':>7} {'proba inline':>13} {'proba graph':>12} "
          f"{'fit inline':>11} {'fit graph':>10}")
    rng = np.random.RandomState(0)
    for n_features, k in SWEEP_SHAPES:
        for n_rows in SWEEP_ROWS:
            X = rng.randn(n_rows, n_features)
            start = daskmix.GaussianMixture(k, max_iter=2, tol=0, random_state=0,
                                            init_params="random_from_data").fit(X[:1000])
            params = dict(weights_init=start.weights_, means_init=start.means_,
                          precisions_init=start.precisions_, max_iter=5, tol=0)
            calls = {
                "proba": start.predict_proba,
                "fit": lambda X, params=params, k=k: daskmix.GaussianMixture(k, **params).fit(X),
            }
            best = {}
            for _ in range(repeats):
                for name, call in calls.items():
                    for path, context in (("inline", forced_inline), ("graph", graph_path)):
                        with context():
                            seconds = time_call(lambda call=call, X=X: call(X), 1)
                        key = (name, path)
                        best[key] = min(best.get(key, np.inf), seconds * 1e3)
            print(f"{n_features:>8} {k:>3} {n_rows:>7} {best[('proba', 'inline')]:>13.2f} "
                  f"{best[('proba', 'graph')]:>12.2f} {best[('fit', 'inline')]:>11.2f} "
                  f"{best[('fit', 'graph')]:>10.2f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 rounds instead of --repeats")
    parser.add_argument("--repeats", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--inner", type=int, default=20, help="calls per timing (methods)")
    parser.add_argument("--fit-inner", type=int, default=3, help="calls per timing (fit)")
    parser.add_argument("--sweep", action="store_true",
                        help="inline against graph path by input size (see above)")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="limit BLAS and OpenMP threads in both libraries")
    args = parser.parse_args()
    repeats = 5 if args.quick else args.repeats
    limit = contextlib.nullcontext()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.blas_threads)
    if args.sweep:
        with limit, warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            sweep(3 if args.quick else min(args.repeats, 5))
        return
    X = make_data()
    print(f"{N_SAMPLES} x {N_FEATURES} float64 rows, {N_COMPONENTS} components; methods on "
          f"{N_ROWS} rows; {repeats} interleaved rounds (BLAS threads: "
          f"{args.blas_threads or 'default'}); daskmix {daskmix.__version__}, "
          f"scikit-learn {sklearn.__version__}")
    with limit, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ops = operations(X)
        times = run(ops, repeats, args.inner, args.fit_inner)
    report(ops, times)


if __name__ == "__main__":
    main()
