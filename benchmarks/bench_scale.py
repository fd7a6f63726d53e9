"""Truncated EM from start to finish as K grows: whole fit, predict, score (issue 15).

Issue 15 asks that ``GaussianMixture(algorithm="truncated")`` be sublinear in
the number of components K from start to finish, not only per iteration
(``bench_truncated.py`` times the iterations): initialisation, warm-up,
iterations, ``predict`` and ``score``. This script measures all of it through
the public API only (``from daskmix import GaussianMixture``: parameters,
fitted attributes, methods and ``verbose`` output), so it runs unchanged
before and after the work on the issue.

Run from the repository root::

    python benchmarks/bench_scale.py                 # all three modes, the issue's shapes
    python benchmarks/bench_scale.py --scale         # only the K sweep
    python benchmarks/bench_scale.py --scale --ks 1024 4096 16384 65536
    python benchmarks/bench_scale.py --quality       # only the quality check
    python benchmarks/bench_scale.py --out-of-core --rows 2000000
    python benchmarks/bench_scale.py --quick         # all three, small shapes, about a minute

With no mode flag all three modes run. The out-of-core mode at full size
writes a 25.6 GB zarr store once (under the system temp dir unless
``--store`` or ``--data-dir`` says otherwise) and takes about an hour.

Data
----
Gaussian blobs as in ``bench_truncated.py`` and ``peer_vamm.py``: centres
drawn from N(0, 4**2 I), each row a uniformly drawn centre plus N(0, I)
noise, float32. So that no process ever holds more than a chunk while
drawing, rows come in blocks, block ``b`` of stream ``s`` from
``numpy.random.default_rng([seed, s, b])``; the training rows, the
``predict`` rows and the ``score`` rows are three streams around the same
centres, so the held-out rows are new draws of the same mixture.

Modes
-----
``--scale`` (the K sweep): 1,000,000 x 32 rows around 4096 centres, in
memory, wrapped as a dask array of 125,000-row chunks, local threaded
scheduler. For each K in ``--ks`` (1024, 4096, 16384 by default):
``GaussianMixture(K, covariance_type="diag", algorithm="truncated",
max_iter=20, tol=0, random_state=0)``, every other parameter at its default
(``init_params="kmeans"``, ``n_active=3``, ``n_neighbors=15``), plus
``verbose=2, verbose_interval=1`` to time the phases. ``tol=0`` makes every
fit run exactly 20 iterations, and also every one of the (up to five)
E-only warm-up passes the truncated algorithm makes before them. Reported:

* **fit**: wall time of the whole ``fit`` call (validation, initial
  parameters, warm-up passes, 20 iterations), best and median over
  ``--repeats`` repeats, interleaved over K;
* **init**: wall time of a separate ``fit`` with ``max_iter=0`` (same
  ``init_params`` and ``random_state``): validation and the initial
  parameters only, since ``max_iter=0`` also skips the warm-up passes;
* **to-it**: from the ``fit`` call to the start of the first iteration
  (initial parameters plus warm-up, including the first pass's choice of
  each point's active components at the initial parameters). No public
  attribute holds it. The estimator prints one line per iteration with
  ``verbose=2, verbose_interval=1`` (scikit-learn's format); the script
  time-stamps each line as it is printed, takes the time of the first
  iteration line and subtracts one median iteration. **s/iter** is the
  median gap between consecutive iteration lines. **warm-up** is to-it
  minus init (two different fits, and to-it an estimate: when both are
  small, noise can make it slightly negative);
* the final ``lower_bound_`` (truncated free energy per row) and
  ``n_evaluations_`` per row (mean over the 20 iterations);
* **predict**: rows/s of ``predict`` on 200,000 held-out rows (a NumPy
  array, so NumPy labels come back), and the latency of ``predict`` on 100
  rows (best and median of ``--latency-calls`` calls);
* **score**: wall time and value of ``score`` on 100,000 held-out rows, as
  a user gets it: for a truncated fit, the default ``inference="auto"``
  evaluates each row's truncated search space, so this is the truncated
  mean log-likelihood (a lower bound of the exact one); ``predict`` is the
  truncated one too.

Then the ratios the issue's targets are about (best times, largest K over
smallest): whole fit at K=16384 / K=1024 at most 2, predict rows/s at
K=16384 / K=1024 at least 0.5; and, without targets, the same ratio for
init, to-it, s/iter and score.

``--quality``: at K=1024 (``--quality-k``), one ``max_iter=0`` fit gives
the initial parameters (``weights_``, ``means_``, ``precisions_`` after
k-means); truncated EM and exact EM (``algorithm="em"``) then each run 20
iterations (``tol=0``) from them (``weights_init``, ``means_init``,
``precisions_init``), and ``score`` with ``inference="exact"`` evaluates
the exact log-likelihood of both on the 100,000 held-out rows. Target:
truncated EM's held-out log-likelihood at most 1% below exact EM's.

``--out-of-core``: 100,000,000 x 64 rows (``--rows``) around 4096 centres,
written once, chunk by chunk, into a zarr store of 250,000-row chunks (the
writer holds one chunk; the store is reused when its recorded metadata
match, as in ``bench_minibatch.py``), read with ``dask.array.from_zarr``.
In a fresh subprocess: ``GaussianMixture(4096, covariance_type="diag",
algorithm="truncated", max_iter=10, tol=0, random_state=0)``, timed as
above (to-it, s/iter, whole fit), then ``predict`` on the first 10,000,000
rows of the store (labels computed). Reported: those times, fit rows/s
(rows / s per iteration), predict rows/s, and the child's peak resident
memory during the fit (the kernel's ``ru_maxrss`` high-water mark, and a
psutil sampler when psutil is installed). Targets: peak RSS under 4 GB,
whole fit under 60 minutes.

``--quick``: 50,000 x 16 rows around 256 centres, K in (64, 256), quality
at K=64, out of core at 400,000 x 16 rows with K=64: a smoke run of every
code path. Its figures say nothing about the targets and it never fails.

Before any timed fit, each process makes small fits (truncated and exact)
and calls the row-wise methods, so numba's cached kernels and dask's
scheduler are loaded. The parent process imports only the standard
library; the in-memory modes and each out-of-core step run in their own
fresh subprocess (a child's ``ru_maxrss`` starts from the high-water mark
of the process that started it; see ``memory_fit.py``).

Peer column: when ``benchmarks/peer_vamm.py`` exists and ``vamm`` imports,
the K sweep also fits the authors' vamm on the same rows (float64, its
AFK-MC2 seeding, five E-only steps, then 20 iterations) and reports its
whole fit time; otherwise the column is left out.

The exit status is 1 when a target is missed (never with ``--quick``).
Figures from a quiet machine go to ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import memory_fit as mf  # imports only the standard library at module level

MB = mf.MB
GB = mf.GB
DATA_SEED = 20260115
SEPARATION = 4.0
#: Streams of the block generator: training rows, predict rows, score rows.
TRAIN, PREDICT, SCORE = 1, 2, 3

FULL = dict(rows=1_000_000, features=32, centres=4096, chunk_rows=125_000,
            ks=(1024, 4096, 16384), quality_k=1024, max_iter=20, predict_rows=200_000,
            score_rows=100_000, latency_rows=100, latency_calls=20, repeats=3)
QUICK = dict(rows=50_000, features=16, centres=256, chunk_rows=12_500, ks=(64, 256),
             quality_k=64, max_iter=20, predict_rows=20_000, score_rows=10_000,
             latency_rows=100, latency_calls=5, repeats=1)
OOC_FULL = dict(rows=100_000_000, features=64, centres=4096, chunk_rows=250_000,
                components=4096, max_iter=10, predict_rows=10_000_000)
OOC_QUICK = dict(rows=400_000, features=16, centres=256, chunk_rows=50_000, components=64,
                 max_iter=10, predict_rows=100_000)

#: Targets of the issue.
MAX_FIT_GROWTH = 2.0  # whole fit, K=16384 / K=1024
MIN_PREDICT_RATIO = 0.5  # predict rows/s, K=16384 / K=1024
TARGET_KS = (1024, 16384)
MAX_RELATIVE_LOGLIK_GAP = 0.01
MAX_PEAK_RSS = 4 * GB
MAX_OOC_FIT_SECONDS = 3600.0

_ITERATION_LINE = re.compile(r"^\s*Iteration (\d+)\b")


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def blob_centres(n_centres, n_features, seed=DATA_SEED):
    """Blob centres drawn from N(0, SEPARATION**2 I).

    Parameters
    ----------
    n_centres, n_features : int
    seed : int, default=DATA_SEED

    Returns
    -------
    centres : ndarray of shape (n_centres, n_features), float32
    """
    import numpy as np

    rng = np.random.default_rng([seed, 0])
    return rng.normal(scale=SEPARATION, size=(n_centres, n_features)).astype(np.float32)


def blob_block(centres, n_rows, stream, block, seed=DATA_SEED):
    """Rows of block ``block`` of ``stream``: a uniformly drawn centre plus unit noise.

    Parameters
    ----------
    centres : ndarray of shape (n_centres, n_features), float32
    n_rows : int
    stream : int
        ``TRAIN``, ``PREDICT`` or ``SCORE``.
    block : int
        Index of the block in its stream.
    seed : int, default=DATA_SEED

    Returns
    -------
    X : ndarray of shape (n_rows, n_features), float32
    """
    import numpy as np

    rng = np.random.default_rng([seed, stream, block])
    labels = rng.integers(len(centres), size=n_rows)
    X = rng.standard_normal((n_rows, centres.shape[1]), dtype=np.float32)
    X += centres[labels]
    return X


def blob_array(centres, n_rows, chunk_rows, stream):
    """``n_rows`` rows of ``stream`` in memory, drawn block by block.

    Parameters
    ----------
    centres : ndarray of shape (n_centres, n_features), float32
    n_rows, chunk_rows : int
        Rows in all and per block.
    stream : int

    Returns
    -------
    X : ndarray of shape (n_rows, n_features), float32
    """
    import numpy as np

    X = np.empty((n_rows, centres.shape[1]), dtype=np.float32)
    for b, start in enumerate(range(0, n_rows, chunk_rows)):
        stop = min(start + chunk_rows, n_rows)
        X[start:stop] = blob_block(centres, stop - start, stream, b)
    return X


# --------------------------------------------------------------------------
# timing a fit through its verbose output
# --------------------------------------------------------------------------
class _LineClock(io.TextIOBase):
    """A stand-in for stdout that time-stamps every complete line written to it."""

    def __init__(self):
        self.lines = []  # (time.perf_counter(), line)
        self._partial = ""

    def writable(self):
        return True

    def write(self, text):
        now = time.perf_counter()
        *done, self._partial = (self._partial + text).split("\n")
        self.lines.extend((now, line) for line in done)
        return len(text)


@dataclasses.dataclass
class FitTimes:
    """Wall times of one fit, in seconds.

    Attributes
    ----------
    whole : float
        The ``fit`` call.
    to_iterations : float
        From the ``fit`` call to the start of the first iteration (NaN
        without iteration lines).
    per_iteration : float
        Median gap between consecutive iteration lines (NaN with fewer than
        two).
    """

    whole: float
    to_iterations: float
    per_iteration: float


def iteration_times(start, end, lines):
    """Phase times of a fit from its time-stamped ``verbose=2`` lines.

    Parameters
    ----------
    start, end : float
        ``time.perf_counter()`` before and after the ``fit`` call.
    lines : list of (float, str)
        The lines the fit printed, with the time each was printed; one
        ``Iteration i`` line per iteration (``verbose_interval=1``).

    Returns
    -------
    FitTimes
    """
    stamps = [t for t, line in lines if _ITERATION_LINE.match(line)]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    per_iteration = statistics.median(gaps) if gaps else float("nan")
    # the first line comes at the end of the first iteration
    to_iterations = stamps[0] - start - per_iteration if stamps else float("nan")
    return FitTimes(whole=end - start, to_iterations=to_iterations, per_iteration=per_iteration)


def timed_fit(X, n_components, *, algorithm, max_iter, **params):
    """Fit a diagonal ``GaussianMixture`` (``tol=0``, ``random_state=0``) and time it.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    n_components : int
    algorithm : {"truncated", "em"}
    max_iter : int
    **params
        Further estimator parameters (``weights_init``, ...).

    Returns
    -------
    gm : GaussianMixture
        The fitted estimator.
    times : FitTimes
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from daskmix import GaussianMixture

    gm = GaussianMixture(n_components, covariance_type="diag", algorithm=algorithm,
                         max_iter=max_iter, tol=0.0, random_state=0, verbose=2,
                         verbose_interval=1, **params)
    clock = _LineClock()
    with warnings.catch_warnings(), contextlib.redirect_stdout(clock):
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        gm.fit(X)
        end = time.perf_counter()
    return gm, iteration_times(start, end, clock.lines)


def warm_up(X):
    """Small truncated and exact fits and the row-wise methods, untimed.

    Loads numba's cached kernels, dask's threaded scheduler and the lazy
    imports, so that the first timed fit does not pay for them.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        A few thousand rows.
    """
    import dask.array as da

    Xd = da.from_array(X, chunks=(max(len(X) // 4, 1), X.shape[1]))
    for algorithm in ("truncated", "em"):
        gm, _ = timed_fit(Xd, 32, algorithm=algorithm, max_iter=2)
        gm.predict(X[:100])
        gm.predict(X)
        gm.score(X)


def evaluations_per_row(gm, n_rows):
    """Mean over the iterations of ``n_evaluations_`` divided by the rows.

    Parameters
    ----------
    gm : GaussianMixture
        Fitted with ``algorithm="truncated"``.
    n_rows : int

    Returns
    -------
    float
    """
    evaluations = list(getattr(gm, "n_evaluations_", []))
    return sum(evaluations) / len(evaluations) / n_rows if evaluations else float("nan")


def _versions():
    """Library versions, where daskmix was imported from, BLAS threads (for the report)."""
    import dask
    import numpy as np
    import sklearn

    import daskmix

    return {
        "versions": {
            "python": sys.version.split()[0], "numpy": np.__version__,
            "dask": dask.__version__, "scikit-learn": sklearn.__version__,
            "daskmix": getattr(daskmix, "__version__", "?"),
            "daskmix_path": os.path.dirname(os.path.dirname(os.path.abspath(daskmix.__file__))),
        },
        "blas": mf._blas_threads(),
    }


def _mark(ok):
    return "PASS" if ok else "MISS"


# --------------------------------------------------------------------------
# in-memory modes: the K sweep and the quality check (one child process)
# --------------------------------------------------------------------------
def measure_predict(gm, predict_X, latency_X, score_X, latency_calls):
    """Throughput and latency of ``predict``, and ``score``, on held-out NumPy rows.

    Parameters
    ----------
    gm : GaussianMixture
        Fitted.
    predict_X, latency_X, score_X : ndarray of shape (n_rows, n_features)
        Rows for the throughput of ``predict``, for its latency, and for ``score``.
    latency_calls : int
        ``predict(latency_X)`` calls timed one by one.

    Returns
    -------
    dict
        ``predict_rate`` (rows/s), ``latencies`` (seconds per call),
        ``score_seconds`` and ``score``.
    """
    start = time.perf_counter()
    gm.predict(predict_X)
    predict_rate = len(predict_X) / (time.perf_counter() - start)
    latencies = []
    for _ in range(latency_calls):
        start = time.perf_counter()
        gm.predict(latency_X)
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    score = gm.score(score_X)
    return {"predict_rate": predict_rate, "latencies": latencies,
            "score_seconds": time.perf_counter() - start, "score": float(score)}


def measure_scale(cfg, X, Xd, held, peer):
    """The K sweep: whole fits interleaved over K and repeats, then predict and score.

    Parameters
    ----------
    cfg : dict
        The in-memory configuration (``ks``, ``max_iter``, ``repeats``, ...).
    X : ndarray of shape (n_samples, n_features)
        Training rows (for the peer).
    Xd : dask.array.Array
        The same rows in chunks (for daskmix).
    held : dict of ndarray
        ``predict``, ``latency`` and ``score`` rows.
    peer : module or None
        ``peer_vamm`` when vamm is importable.

    Returns
    -------
    dict
        Per K: lists of the per-repeat figures (``fit``, ``to_iterations``,
        ``per_iteration``, ``predict_rate``, ``latencies``, ``score_seconds``)
        and the single figures (``init``, ``lower_bound``, ``evaluations``,
        ``n_iter``, ``score``, ``vamm_fit``).
    """
    n_rows = Xd.shape[0]
    records = {K: {"fit": [], "to_iterations": [], "per_iteration": [], "predict_rate": [],
                   "latencies": [], "score_seconds": []} for K in cfg["ks"]}
    for repeat in range(cfg["repeats"]):
        for K in cfg["ks"]:
            rec = records[K]
            if repeat == 0 and cfg["init_split"]:
                _, init_times = timed_fit(Xd, K, algorithm="truncated", max_iter=0)
                rec["init"] = init_times.whole
            gm, times = timed_fit(Xd, K, algorithm="truncated", max_iter=cfg["max_iter"])
            rec["fit"].append(times.whole)
            rec["to_iterations"].append(times.to_iterations)
            rec["per_iteration"].append(times.per_iteration)
            rec.update(lower_bound=float(gm.lower_bound_), n_iter=int(gm.n_iter_),
                       evaluations=evaluations_per_row(gm, n_rows))
            figures = measure_predict(gm, held["predict"], held["latency"], held["score"],
                                      cfg["latency_calls"])
            for key in ("predict_rate", "score_seconds"):
                rec[key].append(figures[key])
            rec["latencies"].extend(figures["latencies"])
            rec["score"] = figures["score"]
            print(f"# repeat {repeat + 1}/{cfg['repeats']}, K={K}: fit {times.whole:.1f} s "
                  f"(to-it {times.to_iterations:.1f} s, {times.per_iteration:.3f} s/iter), "
                  f"predict {figures['predict_rate']:,.0f} rows/s", flush=True)
    if peer is not None:
        for K in cfg["ks"]:
            cost = peer.vamm_iteration_cost(X, K, n_active=3, n_neighbors=min(15, K),
                                            n_random=1, covariance_type="diag",
                                            n_iter_short=2, n_iter_long=cfg["max_iter"],
                                            repeats=1)
            records[K]["vamm_fit"] = cost["seconds_long"]
    return records


def report_scale(cfg, records):
    """Print the K sweep's tables and its targets.

    Parameters
    ----------
    cfg : dict
    records : dict
        ``measure_scale``'s result.

    Returns
    -------
    list of str
        The targets missed.
    """
    ks = cfg["ks"]
    peer = all("vamm_fit" in records[K] for K in ks)
    med = statistics.median
    print(f"\n## K sweep, seconds: whole fit (best and median of {cfg['repeats']}), init (one "
          "max_iter=0 fit), to-it and s/iter (medians), warm-up = to-it - init")
    header = (f"{'K':>6} {'fit best':>9} {'fit med':>8} {'init':>7} {'to-it':>7} "
              f"{'warm-up':>8} {'s/iter':>7} {'n_iter':>6} {'lower bound':>12} "
              f"{'evals/row':>9}")
    if peer:
        header += f" {'vamm fit':>9} {'fit/vamm':>9}"
    print(header)
    for K in ks:
        r = records[K]
        init = r.get("init", float("nan"))
        to_it = med(r["to_iterations"])
        line = (f"{K:>6} {min(r['fit']):>9.2f} {med(r['fit']):>8.2f} {init:>7.2f} "
                f"{to_it:>7.2f} {to_it - init:>8.2f} {med(r['per_iteration']):>7.3f} "
                f"{r['n_iter']:>6} {r['lower_bound']:>12.5f} {r['evaluations']:>9.1f}")
        if peer:
            line += f" {r['vamm_fit']:>9.2f} {min(r['fit']) / r['vamm_fit']:>8.2f}x"
        print(line)
    n_latency = cfg["latency_calls"] * cfg["repeats"]
    print(f"\n## K sweep: predict on {cfg['predict_rows']:,} held-out rows (best, median of "
          f"{cfg['repeats']}), predict on {cfg['latency_rows']} rows (best, median of "
          f"{n_latency} calls), score on {cfg['score_rows']:,} held-out rows")
    print(f"{'K':>6} {'rows/s best':>12} {'rows/s med':>11} {'100-row ms':>10} "
          f"{'ms med':>8} {'score s':>8} {'score':>11}")
    for K in ks:
        r = records[K]
        print(f"{K:>6} {max(r['predict_rate']):>12,.0f} {med(r['predict_rate']):>11,.0f} "
              f"{1e3 * min(r['latencies']):>10.1f} {1e3 * med(r['latencies']):>8.1f} "
              f"{min(r['score_seconds']):>8.2f} {r['score']:>11.5f}")

    if len(ks) < 2:
        print("# targets: need two values of K (--ks); none checked")
        return []
    lo, hi = min(ks), max(ks)
    a, b = records[lo], records[hi]
    fit_growth = min(b["fit"]) / min(a["fit"])
    predict_ratio = max(b["predict_rate"]) / max(a["predict_rate"])
    note = "" if (lo, hi) == TARGET_KS and not cfg["quick"] else (
        f" (the targets are for K={TARGET_KS[1]} / K={TARGET_KS[0]} at the full shape)")
    print(f"\n# targets, K={hi} / K={lo}, best times{note}:")
    print(f"#   whole fit:      {fit_growth:6.2f}x  (<= {MAX_FIT_GROWTH:g}x: "
          f"{_mark(fit_growth <= MAX_FIT_GROWTH)})")
    print(f"#   predict rows/s: {predict_ratio:6.2f}   (>= {MIN_PREDICT_RATIO:g}: "
          f"{_mark(predict_ratio >= MIN_PREDICT_RATIO)})")
    others = {
        "init": (a.get("init", float("nan")), b.get("init", float("nan"))),
        "to-it": (med(a["to_iterations"]), med(b["to_iterations"])),
        "s/iter": (med(a["per_iteration"]), med(b["per_iteration"])),
        "score s": (min(a["score_seconds"]), min(b["score_seconds"])),
        "100-row predict": (min(a["latencies"]), min(b["latencies"])),
    }
    print("# other ratios (no target): " + ", ".join(
        f"{name} {hi_value / lo_value:.2f}x" for name, (lo_value, hi_value) in others.items()))
    missed = []
    if fit_growth > MAX_FIT_GROWTH:
        missed.append(f"whole fit K={hi} / K={lo} = {fit_growth:.2f}")
    if predict_ratio < MIN_PREDICT_RATIO:
        missed.append(f"predict rows/s K={hi} / K={lo} = {predict_ratio:.2f}")
    return missed


def run_quality(cfg, Xd, held):
    """Truncated EM against exact EM from one k-means start; print the held-out gap.

    Parameters
    ----------
    cfg : dict
    Xd : dask.array.Array
        Training rows.
    held : dict of ndarray
        ``score`` rows among them.

    Returns
    -------
    list of str
        The targets missed.
    """
    import numpy as np

    K, max_iter = cfg["quality_k"], cfg["max_iter"]
    init_gm, init_times = timed_fit(Xd, K, algorithm="truncated", max_iter=0)
    weights = init_gm.weights_.astype(np.float64)  # fitted in float32: renormalise
    start = dict(weights_init=weights / weights.sum(),
                 means_init=init_gm.means_.astype(np.float64),
                 precisions_init=init_gm.precisions_.astype(np.float64))
    print(f"\n## quality at K={K}: {max_iter} iterations each from one start (k-means, a "
          f"max_iter=0 fit: {init_times.whole:.1f} s); score on {cfg['score_rows']:,} "
          "held-out rows")
    print(f"{'algorithm':>10} {'fit s':>8} {'s/iter':>7} {'lower bound':>12} "
          f"{'held-out score':>15}")
    scores = {}
    for algorithm in ("em", "truncated"):
        gm, times = timed_fit(Xd, K, algorithm=algorithm, max_iter=max_iter, **start)
        # the exact log-likelihood (a truncated fit's score() is the truncated one)
        scores[algorithm] = gm.set_params(inference="exact").score(held["score"])
        print(f"{algorithm:>10} {times.whole:>8.2f} {times.per_iteration:>7.3f} "
              f"{gm.lower_bound_:>12.5f} {scores[algorithm]:>15.5f}", flush=True)
    # positive: truncated EM's held-out log-likelihood is below exact EM's
    gap = (scores["em"] - scores["truncated"]) / abs(scores["em"])
    ok = gap <= MAX_RELATIVE_LOGLIK_GAP
    print(f"# target: truncated at most {MAX_RELATIVE_LOGLIK_GAP:.0%} below exact EM: "
          f"{abs(gap):.3%} {'below' if gap > 0 else 'above'} ({_mark(ok)})")
    return [] if ok else [f"held-out log-likelihood gap {gap:.3%}"]


def child_inmemory(cfg):
    """The in-memory modes in this process: draw the rows, warm up, measure, print.

    Parameters
    ----------
    cfg : dict
        The in-memory configuration, with ``modes``.

    Returns
    -------
    dict
        ``missed``: the targets missed.
    """
    import dask
    import dask.array as da
    from bench_truncated import _load_peer

    mf.print_provenance(_versions())
    centres = blob_centres(cfg["centres"], cfg["features"])
    X = blob_array(centres, cfg["rows"], cfg["chunk_rows"], TRAIN)
    Xd = da.from_array(X, chunks=(cfg["chunk_rows"], cfg["features"]))
    predict_X = blob_array(centres, cfg["predict_rows"], cfg["chunk_rows"], PREDICT)
    held = {"predict": predict_X, "latency": predict_X[: cfg["latency_rows"]].copy(),
            "score": blob_array(centres, cfg["score_rows"], cfg["chunk_rows"], SCORE)}
    print(f"# {cfg['rows']:,} x {cfg['features']} float32 blobs around {cfg['centres']} "
          f"centres, dask chunks of {cfg['chunk_rows']:,} rows, threaded scheduler; "
          f"GaussianMixture(K, covariance_type='diag', algorithm=..., max_iter="
          f"{cfg['max_iter']}, tol=0, random_state=0), defaults otherwise", flush=True)
    peer = None
    if "scale" in cfg["modes"] and not cfg["no_peer"]:
        peer = _load_peer()
        if peer is not None and not peer.vamm_available():
            print("# vamm is not installed; no vamm column (see benchmarks/peer_vamm.py)")
            peer = None
    missed = []
    with dask.config.set(scheduler="threads"):
        warm_up(X[: min(len(X), 20_000)])
        if "scale" in cfg["modes"]:
            missed += report_scale(cfg, measure_scale(cfg, X, Xd, held, peer))
        if "quality" in cfg["modes"]:
            missed += run_quality(cfg, Xd, held)
    return {"missed": missed}


# --------------------------------------------------------------------------
# out of core: write the store, then fit and predict in a fresh child
# --------------------------------------------------------------------------
def _store_spec(cfg):
    """What a store must record to be reused: shape, chunks and the generator."""
    return {k: cfg[k] for k in ("rows", "features", "centres", "chunk_rows")} | {
        "seed": DATA_SEED, "separation": SEPARATION, "generator": "bench_scale.blob_block"}


def _store_matches(cfg):
    import zarr

    try:
        z = zarr.open_array(cfg["store"], mode="r")
    except Exception:  # missing or not a zarr array: write it
        return False
    return (tuple(z.shape) == (cfg["rows"], cfg["features"])
            and dict(z.attrs).get("spec") == _store_spec(cfg))


def child_write(cfg):
    """Write the out-of-core rows into a zarr store, one chunk at a time (or reuse it).

    The spec attribute is written last, so an interrupted write is never reused.

    Parameters
    ----------
    cfg : dict
        ``store``, ``rows``, ``features``, ``centres``, ``chunk_rows``.

    Returns
    -------
    dict
        ``reused``: whether the store already held these rows.
    """
    import zarr

    if _store_matches(cfg):
        return {"reused": True}
    centres = blob_centres(cfg["centres"], cfg["features"])
    z = zarr.open_array(cfg["store"], mode="w", shape=(cfg["rows"], cfg["features"]),
                        chunks=(cfg["chunk_rows"], cfg["features"]), dtype="float32")
    for b, start in enumerate(range(0, cfg["rows"], cfg["chunk_rows"])):
        stop = min(start + cfg["chunk_rows"], cfg["rows"])
        z[start:stop] = blob_block(centres, stop - start, TRAIN, b)
    z.attrs["spec"] = _store_spec(cfg)
    return {"reused": False}


def child_ooc_fit(cfg):
    """Fit on ``dask.array.from_zarr(store)``, then predict a slice; time both.

    Parameters
    ----------
    cfg : dict
        ``store``, ``components``, ``max_iter``, ``predict_rows``.

    Returns
    -------
    dict
        Times (``fit``, ``to_iterations``, ``per_iteration``, ``predict``),
        ``lower_bound``, ``n_iter``, ``evaluations`` per row, and the peak RSS
        during the fit (``peak_fit_kernel``, ``peak_fit_sampler`` or NaN).
    """
    import resource

    import dask
    import dask.array as da

    X = da.from_zarr(cfg["store"])
    try:
        import psutil

        sampler = mf._Sampler(psutil.Process(), 0.05)
    except ImportError:
        sampler = None
    with dask.config.set(scheduler="threads"):
        warm_up(X[: min(X.shape[0], 20_000)].compute())
        with sampler or contextlib.nullcontext():
            fit_start = time.perf_counter()
            gm, times = timed_fit(X, cfg["components"], algorithm="truncated",
                                  max_iter=cfg["max_iter"])
            fit_end = time.perf_counter()
        peak_fit_kernel = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        n_predict = min(cfg["predict_rows"], X.shape[0])
        start = time.perf_counter()
        gm.predict(X[:n_predict]).compute()
        predict_seconds = time.perf_counter() - start
    return dict(
        fit=times.whole, to_iterations=times.to_iterations, per_iteration=times.per_iteration,
        predict=predict_seconds, predict_rows=n_predict, lower_bound=float(gm.lower_bound_),
        n_iter=int(gm.n_iter_), evaluations=evaluations_per_row(gm, X.shape[0]),
        peak_fit_kernel=peak_fit_kernel,
        peak_fit_sampler=sampler.peak(fit_start, fit_end) if sampler else float("nan"),
        **_versions(),
    )


def _default_store(cfg, data_dir):
    name = (f"scale-blobs-{cfg['rows']}x{cfg['features']}-b{cfg['centres']}"
            f"-c{cfg['chunk_rows']}.zarr")
    return os.path.join(data_dir, name)


def _check_disk(cfg):
    """Raise when the store must be written and its file system has too little room."""
    need = cfg["rows"] * cfg["features"] * 4
    if os.path.exists(cfg["store"]):
        return  # rewritten in place, or reused
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(cfg["store"]))).free
    if free < 1.05 * need:
        raise SystemExit(f"the store needs about {need / GB:.1f} GB and only {free / GB:.1f} GB "
                         "are free there: pass --store or --data-dir on a larger disk, or "
                         "fewer --rows")


def run_out_of_core(cfg, timeout):
    """Write (or reuse) the store, fit in a fresh child, print the figures and targets.

    Parameters
    ----------
    cfg : dict
        The out-of-core configuration, with ``store`` and ``quick``.
    timeout : float
        Seconds per child.

    Returns
    -------
    list of str
        The targets missed.
    """
    os.makedirs(os.path.dirname(os.path.abspath(cfg["store"])), exist_ok=True)
    _check_disk(cfg)
    rows = cfg["rows"]
    print(f"\n## out of core: {rows:,} x {cfg['features']} float32 blobs around "
          f"{cfg['centres']} centres ({rows * cfg['features'] * 4 / GB:.2f} GB), zarr chunks of "
          f"{cfg['chunk_rows']:,} rows at {cfg['store']}", flush=True)
    written = run_child(dict(cfg, step="write"), timeout)
    print(f"# write: {'reused the existing store' if written['reused'] else 'written'} in "
          f"{written['wall']:.1f} s, peak RSS {written['peak_kernel'] / MB:.0f} MB", flush=True)
    r = run_child(dict(cfg, step="ooc-fit"), timeout)
    mf.print_provenance(r)
    print(f"# GaussianMixture({cfg['components']}, covariance_type='diag', "
          f"algorithm='truncated', max_iter={cfg['max_iter']}, tol=0, random_state=0) on "
          "dask.array.from_zarr, threaded scheduler, in a fresh subprocess")
    print(f"{'fit s':>9} {'to-it s':>8} {'s/iter':>8} {'n_iter':>6} {'fit rows/s':>11} "
          f"{'predict rows/s':>15} {'peak RSS MB':>11} {'sampled MB':>10} "
          f"{'lower bound':>12} {'evals/row':>9}")
    print(f"{r['fit']:>9.1f} {r['to_iterations']:>8.1f} {r['per_iteration']:>8.2f} "
          f"{r['n_iter']:>6} {rows / r['per_iteration']:>11,.0f} "
          f"{r['predict_rows'] / r['predict']:>15,.0f} {r['peak_fit_kernel'] / MB:>11.0f} "
          f"{r['peak_fit_sampler'] / MB:>10.0f} {r['lower_bound']:>12.5f} "
          f"{r['evaluations']:>9.1f}")
    print(f"# fit rows/s: rows / s per iteration (EM iterations only); predict over the first "
          f"{r['predict_rows']:,} rows, labels computed")
    peak_ok = r["peak_fit_kernel"] < MAX_PEAK_RSS
    time_ok = r["fit"] < MAX_OOC_FIT_SECONDS
    note = " (--quick: not the target's shape)" if cfg["quick"] else ""
    print(f"# targets{note}: peak RSS during the fit {r['peak_fit_kernel'] / GB:.2f} GB "
          f"(< {MAX_PEAK_RSS / GB:g} GB: {_mark(peak_ok)}); whole fit {r['fit'] / 60:.1f} min "
          f"(< {MAX_OOC_FIT_SECONDS / 60:g} min: {_mark(time_ok)})")
    missed = []
    if not peak_ok:
        missed.append(f"out-of-core peak RSS {r['peak_fit_kernel'] / GB:.2f} GB")
    if not time_ok:
        missed.append(f"out-of-core fit {r['fit'] / 60:.1f} min")
    return missed


# --------------------------------------------------------------------------
# children and the parent
# --------------------------------------------------------------------------
CHILDREN = {"inmemory": child_inmemory, "write": child_write, "ooc-fit": child_ooc_fit}


def child(cfg):
    """Run one step in this (fresh) process; print its result as a ``RESULT`` line.

    Parameters
    ----------
    cfg : dict
        With ``step``, one of ``CHILDREN``.
    """
    import resource

    start = time.perf_counter()
    out = CHILDREN[cfg["step"]](cfg)
    out.update(wall=time.perf_counter() - start,
               peak_kernel=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print("RESULT " + json.dumps(out, default=float), flush=True)


def run_child(cfg, timeout):
    """Run ``child(cfg)`` in a fresh Python process; echo its output, return its result.

    Parameters
    ----------
    cfg : dict
    timeout : float
        Seconds before the child is killed.

    Returns
    -------
    dict
    """
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cfg)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    result = None
    try:
        for line in proc.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line[len("RESULT "):])
            else:
                print(line, end="", flush=True)
        proc.wait()
    finally:
        timer.cancel()
    if proc.returncode != 0 or result is None:
        why = (f"killed after --timeout {timeout:g} s" if timed_out.is_set()
               else f"exit code {proc.returncode}")
        raise RuntimeError(f"child {cfg['step']} failed ({why})")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small shapes, a smoke run")
    p.add_argument("--scale", action="store_true", help="run the K sweep")
    p.add_argument("--quality", action="store_true", help="run the quality check")
    p.add_argument("--out-of-core", action="store_true", help="run the out-of-core fit")
    p.add_argument("--ks", type=int, nargs="+", default=None,
                   help=f"K values of the sweep (default {FULL['ks']}; {QUICK['ks']} with "
                        "--quick); 65536 is worth adding on a quiet machine")
    p.add_argument("--quality-k", type=int, default=None,
                   help=f"K of the quality check (default {FULL['quality_k']})")
    p.add_argument("--repeats", type=int, default=None,
                   help=f"interleaved repeats of the K sweep (default {FULL['repeats']}, "
                        f"{QUICK['repeats']} with --quick)")
    p.add_argument("--latency-calls", type=int, default=None,
                   help="predict calls on 100 rows per fit (default 20, 5 with --quick)")
    p.add_argument("--no-init-split", action="store_true",
                   help="skip the max_iter=0 fit per K that times the initialisation alone")
    p.add_argument("--no-peer", action="store_true", help="leave the vamm column out")
    p.add_argument("--rows", type=int, default=None,
                   help=f"rows of the out-of-core store (default {OOC_FULL['rows']:,}, "
                        f"{OOC_QUICK['rows']:,} with --quick)")
    p.add_argument("--store", default=None, help="out-of-core zarr store path")
    p.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "daskmix-bench"),
                   help="where the out-of-core store goes when --store is not given")
    p.add_argument("--timeout", type=float, default=4 * 3600.0, help="seconds per child")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    modes = [m for m in ("scale", "quality", "out_of_core") if getattr(args, m)]
    modes = modes or ["scale", "quality", "out_of_core"]
    machine = mf._machine()
    print(f"# machine: nproc={machine.get('nproc')} (affinity {machine.get('affinity')}), "
          f"{machine.get('mem_gib', float('nan')):.1f} GiB RAM, {machine['platform']}; load "
          f"average {os.getloadavg()[0]:.2f}; modes: {', '.join(modes)}"
          + ("; --quick: small shapes, the targets are for the full run" if args.quick else ""),
          flush=True)
    inmemory = dict(QUICK if args.quick else FULL)
    overrides = dict(ks=args.ks and tuple(sorted(set(args.ks))), quality_k=args.quality_k,
                     repeats=args.repeats, latency_calls=args.latency_calls)
    inmemory.update({k: v for k, v in overrides.items() if v is not None})
    inmemory.update(modes=modes, quick=args.quick, init_split=not args.no_init_split,
                    no_peer=args.no_peer, step="inmemory")
    ooc = dict(OOC_QUICK if args.quick else OOC_FULL, quick=args.quick)
    if args.rows is not None:
        ooc["rows"] = args.rows
    ooc["store"] = args.store or _default_store(ooc, args.data_dir)
    if min(inmemory["ks"]) < 1 or max(inmemory["ks"]) > inmemory["rows"]:
        p.error(f"--ks must be between 1 and the {inmemory['rows']:,} training rows")
    if not 2 <= inmemory["quality_k"] <= inmemory["rows"]:
        p.error(f"--quality-k must be between 2 and the {inmemory['rows']:,} training rows")
    if ooc["rows"] < ooc["components"]:
        p.error(f"--rows must be at least the {ooc['components']} components")

    missed = []
    if "scale" in modes or "quality" in modes:
        missed += run_child(inmemory, args.timeout)["missed"]
    if "out_of_core" in modes:
        missed += run_out_of_core(ooc, args.timeout)
    if missed:
        print("# missed: " + "; ".join(missed))
    return 1 if missed and not args.quick else 0


if __name__ == "__main__":
    sys.exit(main())
