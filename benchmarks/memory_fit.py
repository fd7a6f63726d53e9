"""Peak resident memory of a daskmix fit on lazily generated data.

The data set is a dask array whose chunks are generated inside their own
tasks (``da.map_blocks`` over a chunked array of block indices; block ``b`` is
drawn with ``numpy.random.default_rng([seed, b])`` from a fixed mixture of 8
Gaussian blobs), so the full array (10,000,000 x 16 float64 = 1.28 GB by
default) never exists anywhere. The bound checked is: peak resident memory of
the process that fits it stays under ``--bound-mb`` (600 MB).

Every fit runs in a fresh Python subprocess, so the peak is the fit's own.
The child reports:

* baseline RSS: after importing numpy, dask, scikit-learn and daskmix, before
  building the graph;
* peak RSS (kernel): ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end
  of the child, the kernel's high-water mark (includes the imports);
* peak RSS (sampler): maximum of a psutil sampler thread reading RSS every
  ``--sample-interval`` seconds during the fit (can miss spikes shorter than
  the interval; the kernel figure cannot).

The parent process imports neither numpy nor dask: on Linux ``ru_maxrss`` of a
process started by ``exec`` starts from the high-water mark of the process it
replaced, so a heavy parent would inflate its children's figures.

For context the same run also fits a smaller shape (``--peer-rows``, default
1,000,000 x 16) twice: daskmix on the lazy array, and scikit-learn's
``GaussianMixture`` on the same rows materialised as one NumPy array, and
reports the ratio of their peaks.

Usage::

    python benchmarks/memory_fit.py                   # default run, ~2 min on 2 cores
    python benchmarks/memory_fit.py --scheduler sync  # ~4-5 min
    python benchmarks/memory_fit.py --rows 1000000 --repeats 1 --no-peer
    python benchmarks/memory_fit.py --phases          # + sampled peak RSS per dask.compute

The exit status is 1 when the median peak of the ``--rows`` fit is not under
``--bound-mb``. Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

MB = 1e6
GB = 1e9
N_BLOBS = 8
DATA_SEED = 20240601


# --------------------------------------------------------------------------
# child: one fit in this process
# --------------------------------------------------------------------------
def _rss_bytes(proc):
    return proc.memory_info().rss


def _mixture_spec(n_features, np):
    """The known mixture the data are drawn from: weights, means, scales."""
    rng = np.random.default_rng(DATA_SEED)
    weights = rng.dirichlet(np.full(N_BLOBS, 5.0))
    means = rng.uniform(-10.0, 10.0, size=(N_BLOBS, n_features))
    scales = rng.uniform(0.5, 2.0, size=(N_BLOBS, n_features))
    return weights, means, scales


def _make_block(block_index, *, chunk_rows, n_rows, weights, means, scales):
    """Rows of block ``block_index`` (a length-1 array), generated in the task."""
    import numpy as np

    b = int(block_index[0])
    start = b * chunk_rows
    n = min(chunk_rows, n_rows - start)
    rng = np.random.default_rng([DATA_SEED, b])
    # Blob sizes ~ Multinomial(n, weights); the rows of each blob are one
    # contiguous slice, scaled and shifted in place, so generating a chunk
    # allocates the chunk itself and nothing else of its size (like reading
    # it from a file would).
    counts = rng.multinomial(n, weights)
    X = rng.standard_normal((n, means.shape[1]))
    for k, (lo, hi) in enumerate(zip(np.cumsum(counts) - counts, np.cumsum(counts))):
        X[lo:hi] *= scales[k]
        X[lo:hi] += means[k]
    return X


def _lazy_data(n_rows, n_features, chunk_rows):
    import dask.array as da
    import numpy as np

    weights, means, scales = _mixture_spec(n_features, np)
    n_blocks = -(-n_rows // chunk_rows)
    row_chunks = tuple(min(chunk_rows, n_rows - b * chunk_rows) for b in range(n_blocks))
    blocks = da.arange(n_blocks, chunks=1)
    return da.map_blocks(
        _make_block, blocks,
        chunks=(row_chunks, (n_features,)), new_axis=1,
        dtype=np.float64, meta=np.empty((0, 0), dtype=np.float64),
        name=f"bench-lazy-data-{n_rows}x{n_features}-{chunk_rows}",
        chunk_rows=chunk_rows, n_rows=n_rows,
        weights=weights, means=means, scales=scales,
    )


def _numpy_data(n_rows, n_features, chunk_rows):
    """The same rows as ``_lazy_data``, written block by block into one array."""
    import numpy as np

    weights, means, scales = _mixture_spec(n_features, np)
    X = np.empty((n_rows, n_features))
    for b, start in enumerate(range(0, n_rows, chunk_rows)):
        X[start : start + chunk_rows] = _make_block(
            np.array([b]), chunk_rows=chunk_rows, n_rows=n_rows,
            weights=weights, means=means, scales=scales,
        )
    return X


class _Sampler:
    """Background thread recording (time, RSS) every ``interval`` seconds."""

    def __init__(self, proc, interval):
        import threading

        self.proc, self.interval = proc, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), _rss_bytes(self.proc)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), _rss_bytes(self.proc)))

    def peak(self, start=None, end=None):
        values = [
            rss for t, rss in self.samples
            if (start is None or t >= start) and (end is None or t <= end)
        ]
        return max(values) if values else float("nan")


_AUX_LAYERS = ("-sum", "-aggregate", "-combine", "-partial", "-row-start", "-weight")


def _trace_computes(records):
    """Wrap ``daskmix._dask.graph.compute`` to time-stamp each pass (``--phases``).

    Benchmark instrumentation only: it relies on daskmix's private module
    layout and is skipped (with a note) if that changes.
    """
    try:
        from daskmix._dask import graph as _graph
    except ImportError:
        return "daskmix._dask.graph not found: no per-phase figures"
    original = _graph.compute

    def label(collections):
        names = []
        for c in collections:
            graph = getattr(c, "__dask_graph__", lambda: None)()
            for name in getattr(graph, "layers", {}) or {}:
                base = re.sub(r"-[0-9a-f]{32}$", "", name)
                if base.startswith("daskmix-"):
                    names.append(base)
        # the kernel's own layer, not the reduction's or the row offsets'
        main = [n for n in names if not any(s in n for s in _AUX_LAYERS)]
        return ",".join(sorted(set(main or names))) or "(no daskmix- layer)"

    def compute(*collections, **kwargs):
        start = time.perf_counter()
        try:
            return original(*collections, **kwargs)
        finally:
            records.append((label(collections), start, time.perf_counter()))

    _graph.compute = compute
    return None


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return ", ".join(
        f"{i.get('internal_api')} {i.get('num_threads')} thread(s)"
        for i in threadpool_info() if i.get("user_api") == "blas"
    )


def child(cfg):
    import gc
    import resource
    import warnings

    import psutil

    proc = psutil.Process()
    rss_start = _rss_bytes(proc)
    import dask
    import dask.array
    import numpy as np
    import sklearn.mixture

    import daskmix

    gc.collect()
    baseline = _rss_bytes(proc)
    records, note = [], None
    if cfg["phases"] and cfg["library"] == "daskmix":
        note = _trace_computes(records)

    kwargs = dict(
        n_components=cfg["components"], covariance_type=cfg["covariance_type"],
        max_iter=cfg["max_iter"], tol=0, random_state=0, init_params="kmeans",
    )
    with _Sampler(proc, cfg["sample_interval"]) as sampler, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        t_data = time.perf_counter()
        if cfg["library"] == "daskmix":
            X = _lazy_data(cfg["rows"], cfg["features"], cfg["chunk_rows"])
            model = daskmix.GaussianMixture(**kwargs)
            context = dask.config.set(scheduler=cfg["scheduler"])
        else:
            X = _numpy_data(cfg["rows"], cfg["features"], cfg["chunk_rows"])
            model = sklearn.mixture.GaussianMixture(**kwargs)
            context = dask.config.set()  # no-op
        t_fit = time.perf_counter()
        with context:
            model.fit(X)
        t_end = time.perf_counter()

    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    phases = []
    previous_end = t_fit
    for name, start, end in records:
        if start - previous_end > 0.05:
            phases.append(("client (between passes)", previous_end, start))
        phases.append((name, start, end))
        previous_end = end
    if records and t_end - previous_end > 0.05:
        phases.append(("client (after last pass)", previous_end, t_end))
    result = {
        "rss_start": rss_start,
        "baseline": baseline,
        "peak_kernel": maxrss_kb * 1024,
        "peak_sampler": sampler.peak(),
        "peak_sampler_fit": sampler.peak(t_fit, t_end),
        "data_time": t_fit - t_data,
        "fit_time": t_end - t_fit,
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        "n_samples_rss": len(sampler.samples),
        "phases": [
            (name, end - start, sampler.peak(start, end)) for name, start, end in phases
        ],
        "note": note,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "dask": dask.__version__,
            "scikit-learn": sklearn.__version__,
            "daskmix": getattr(daskmix, "__version__", "?"),
            "daskmix_path": os.path.dirname(os.path.dirname(os.path.abspath(daskmix.__file__))),
            "psutil": psutil.__version__,
        },
        "blas": _blas_threads(),
    }
    print("RESULT " + json.dumps(result, default=float), flush=True)


# --------------------------------------------------------------------------
# parent: repeats, medians, table
# --------------------------------------------------------------------------
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def run_child(cfg, timeout, blas_threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cfg)]
    env = dict(os.environ)
    if blas_threads:
        env.update({name: str(blas_threads) for name in BLAS_ENV})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(proc.stdout + proc.stderr)
    raise RuntimeError(f"child failed (exit code {proc.returncode}): {cfg}")


def _median(results, key):
    return statistics.median(r[key] for r in results)


def _git_state(path):
    """Commit and dirty state of the daskmix sources the children imported."""
    def git(*a):
        out = subprocess.run(["git", "-C", path, *a], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return "not a git checkout"
    dirty = git("status", "--porcelain", "--", "daskmix")
    return commit + (" + uncommitted changes under daskmix/" if dirty else " (clean)")


def _machine():
    info = {"nproc": os.cpu_count(), "platform": platform.platform()}
    try:
        with open("/proc/meminfo") as f:
            total_kb = int(f.readline().split()[1])
        info["mem_gib"] = total_kb / 2**20
    except OSError:
        pass
    with contextlib.suppress(AttributeError):
        info["affinity"] = len(os.sched_getaffinity(0))
    return info


def print_provenance(result):
    """Print library versions, where daskmix came from and BLAS threads of one child.

    Parameters
    ----------
    result : dict
        One child's result (its "versions" and "blas" entries).

    Returns
    -------
    str
        The directory daskmix was imported from.
    """
    versions = dict(result["versions"])
    daskmix_path = versions.pop("daskmix_path")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"daskmix from {daskmix_path}: {_git_state(daskmix_path)}; BLAS: {result['blas']}")
    print()
    return daskmix_path


def add_measurement_options(p, timeout):
    """Options every memory benchmark shares (repeats, scheduler, sampling, output).

    Parameters
    ----------
    p : argparse.ArgumentParser
    timeout : float
        Default seconds allowed per child process.
    """
    p.add_argument("--repeats", type=int, default=3,
                   help="fresh subprocesses per case; medians are reported")
    p.add_argument("--scheduler", default="threads", choices=["threads", "sync"],
                   help="dask scheduler of the daskmix fits; threads is the local default")
    p.add_argument("--blas-threads", type=int, default=0,
                   help="BLAS threads per process, set through OPENBLAS/OMP/MKL_NUM_THREADS "
                        "in the children's environment; 0 leaves it alone (daskmix limits "
                        "BLAS to one thread per task under the threaded scheduler)")
    p.add_argument("--sample-interval", type=float, default=0.01,
                   help="seconds between psutil RSS samples")
    p.add_argument("--phases", action="store_true",
                   help="also report the sampled peak RSS during each dask.compute")
    p.add_argument("--json", metavar="PATH", help="write every repeat's raw figures here")
    p.add_argument("--timeout", type=float, default=timeout, help="seconds per child")
    p.add_argument("--child", help=argparse.SUPPRESS)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000,
                   help="rows of the lazy data set checked against the bound")
    p.add_argument("--features", type=int, default=16, help="columns (float64)")
    p.add_argument("--components", type=int, default=8, help="n_components of the fit")
    p.add_argument("--chunk-rows", type=int, default=250_000,
                   help="rows per dask chunk (250,000 x 16 float64 = 32 MB)")
    p.add_argument("--covariance-type", default="diag",
                   choices=["full", "tied", "diag", "spherical"], help="covariance_type")
    p.add_argument("--max-iter", type=int, default=10,
                   help="EM iterations (tol=0, so exactly this many)")
    p.add_argument("--bound-mb", type=float, default=600.0,
                   help="peak RSS bound for the --rows fit, in MB (10^6 bytes)")
    p.add_argument("--peer-rows", type=int, default=1_000_000,
                   help="rows of the daskmix vs scikit-learn comparison")
    p.add_argument("--no-peer", action="store_true",
                   help="skip the daskmix vs scikit-learn comparison")
    add_measurement_options(p, timeout=1800.0)
    args = p.parse_args(argv)

    if args.child:
        child(json.loads(args.child))
        return 0

    base = dict(
        features=args.features, components=args.components,
        chunk_rows=args.chunk_rows, covariance_type=args.covariance_type,
        max_iter=args.max_iter, scheduler=args.scheduler,
        sample_interval=args.sample_interval, phases=args.phases,
    )
    cases = [("daskmix", "lazy dask", args.rows, True)]
    if not args.no_peer:
        cases += [
            ("daskmix", "lazy dask", args.peer_rows, False),
            ("sklearn", "NumPy", args.peer_rows, False),
        ]

    machine = _machine()
    print(f"machine: nproc={machine.get('nproc')} "
          f"(affinity {machine.get('affinity')}), "
          f"{machine.get('mem_gib', float('nan')):.1f} GiB RAM, {machine['platform']}")
    print(f"GaussianMixture(n_components={args.components}, "
          f"covariance_type={args.covariance_type!r}, max_iter={args.max_iter}, tol=0, "
          f"random_state=0, init_params='kmeans'); daskmix scheduler={args.scheduler!r}; "
          f"median of {args.repeats} fresh subprocess(es) per row")
    print(f"chunks: {args.chunk_rows:,d} rows; BLAS threads per process: "
          f"{args.blas_threads or 'library/environment default'}; "
          f"load average before the run: {os.getloadavg()[0]:.2f}")

    t0 = time.perf_counter()
    rows, raw = [], []
    for library, data_kind, n_rows, checked in cases:
        cfg = dict(base, library=library, rows=n_rows)
        results = []
        for r in range(args.repeats):
            res = run_child(cfg, args.timeout, args.blas_threads)
            results.append(res)
            raw.append(dict(cfg, repeat=r, **res))
            print(f"  {library:8s} {n_rows:>11,d} rows  repeat {r + 1}/{args.repeats}: "
                  f"peak {res['peak_kernel'] / MB:7.1f} MB (sampler "
                  f"{res['peak_sampler'] / MB:7.1f}), baseline {res['baseline'] / MB:6.1f} MB, "
                  f"fit {res['fit_time']:6.1f} s", flush=True)
            if res.get("note"):
                print("    note:", res["note"])
        rows.append((library, data_kind, n_rows, checked, results))

    daskmix_path = print_provenance(rows[0][4][0])
    header = (f"{'library':8s} {'data':9s} {'rows':>11s} {'data GB':>8s} {'chunk MB':>9s} "
              f"{'base MB':>8s} {'peak MB':>8s} {'sampler':>8s} {'peak-base':>9s} "
              f"{'fit s':>7s} {'iters':>5s}  bound")
    print(header)
    print("-" * len(header))
    summary = {}
    for library, data_kind, n_rows, checked, results in rows:
        peak = _median(results, "peak_kernel") / MB
        base_mb = _median(results, "baseline") / MB
        sampler = _median(results, "peak_sampler") / MB
        increment = statistics.median(
            (r["peak_kernel"] - r["baseline"]) / MB for r in results
        )
        verdict = "-"
        if checked:
            verdict = ("PASS" if peak < args.bound_mb else "FAIL") + f" (< {args.bound_mb:g} MB)"
        summary[(library, n_rows)] = (peak, increment)
        chunk_mb = min(args.chunk_rows, n_rows) * args.features * 8 / MB
        print(f"{library:8s} {data_kind:9s} {n_rows:>11,d} {n_rows * args.features * 8 / GB:8.3f} "
              f"{chunk_mb:9.1f} {base_mb:8.1f} {peak:8.1f} {sampler:8.1f} {increment:9.1f} "
              f"{_median(results, 'fit_time'):7.1f} {int(_median(results, 'n_iter')):5d}  {verdict}")
    if not args.no_peer:
        sk = summary[("sklearn", args.peer_rows)]
        dm = summary[("daskmix", args.peer_rows)]
        print(f"\n{args.peer_rows:,d} x {args.features}: scikit-learn / daskmix peak RSS = "
              f"{sk[0] / dm[0]:.2f}x; peak minus baseline = {sk[1] / dm[1]:.2f}x")

    if args.phases:
        for library, _data_kind, n_rows, _checked, results in rows:
            if library != "daskmix":
                continue
            res = sorted(results, key=lambda r: r["peak_kernel"])[len(results) // 2]
            print(f"\nphases of the median-peak daskmix fit on {n_rows:,d} rows "
                  f"(sampled RSS, MB; baseline {res['baseline'] / MB:.1f}):")
            for name, seconds, peak in res["phases"]:
                print(f"  {name:50s} {seconds:7.2f} s  peak {peak / MB:7.1f}")

    print(f"\ntotal benchmark wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "args": vars(args),
                       "daskmix_git": _git_state(daskmix_path), "runs": raw}, f, indent=1,
                      default=float)
    checked_peak = summary[("daskmix", args.rows)][0]
    return 0 if checked_peak < args.bound_mb else 1


if __name__ == "__main__":
    sys.exit(main())
