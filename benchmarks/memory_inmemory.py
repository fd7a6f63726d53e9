"""Peak resident memory of a fit on an in-memory NumPy array, against data + 300 MB.

The claim checked: fitting a 1,000,000 x 32 float64 NumPy array (256 MB)
given directly to ``daskmix.GaussianMixture.fit`` (which splits it into
chunks itself) keeps the process's peak RSS under baseline + data + 300 MB,
that is, the fit itself needs less than ``--budget-mb`` (300 MB) on top of the
array. scikit-learn's ``GaussianMixture`` is measured on the same array with
the same parameters, for comparison.

The measurement machinery is ``memory_fit.py``'s (a fresh subprocess per
fit, ``getrusage`` high-water mark plus a psutil sampler, a parent that
imports neither numpy nor dask; see its docstring). Each child reports:

* baseline RSS: after importing numpy, dask, scikit-learn and daskmix;
* after data: once the array exists. It is drawn in place, block by block,
  from 32 Gaussian blobs with diagonal scales, so generating it allocates
  nothing the size of a block besides the array;
* peak RSS: the kernel's high-water mark at the end of the child (and the
  sampler's maximum during the fit);
* fit overhead: peak - (baseline + n_rows x n_features x 8 bytes), checked
  against ``--budget-mb``.

Usage::

    python benchmarks/memory_inmemory.py            # diag and full, 3 repeats each
    python benchmarks/memory_inmemory.py --phases   # + sampled peak RSS per dask.compute
    python benchmarks/memory_inmemory.py --covariance-types full --repeats 1

The exit status is 1 when the median fit overhead of a daskmix case is not
under ``--budget-mb``. Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import memory_fit as mf  # imports only the standard library at module level

MB = mf.MB


# --------------------------------------------------------------------------
# child: one fit in this process
# --------------------------------------------------------------------------
def _blobs_in_place(n_rows, n_features, n_blobs, block_rows, np):
    """``n_rows`` rows from a fixed mixture of ``n_blobs`` Gaussian blobs.

    Written straight into the one array: each block of ``block_rows`` rows is
    filled with standard normals, then blob by blob (contiguous slices sized
    ~ Multinomial(block, weights)) scaled and shifted in place.
    """
    rng = np.random.default_rng(mf.DATA_SEED)
    # the distributions of memory_fit._mixture_spec, with n_blobs blobs
    weights = rng.dirichlet(np.full(n_blobs, 5.0))
    means = rng.uniform(-10.0, 10.0, size=(n_blobs, n_features))
    scales = rng.uniform(0.5, 2.0, size=(n_blobs, n_features))
    X = np.empty((n_rows, n_features))
    for start in range(0, n_rows, block_rows):
        block = X[start : start + block_rows]
        rng.standard_normal(out=block)
        counts = rng.multinomial(len(block), weights)
        stops = np.cumsum(counts)
        for k, (lo, hi) in enumerate(zip(stops - counts, stops)):
            block[lo:hi] *= scales[k]
            block[lo:hi] += means[k]
    return X


def child(cfg):
    import gc
    import resource
    import warnings

    import psutil

    proc = psutil.Process()
    import dask
    import dask.array
    import numpy as np
    import sklearn.mixture

    import daskmix

    gc.collect()
    baseline = mf._rss_bytes(proc)

    t_data = time.perf_counter()
    X = _blobs_in_place(cfg["rows"], cfg["features"], cfg["blobs"], cfg["block_rows"], np)
    data_time = time.perf_counter() - t_data
    gc.collect()
    after_data = mf._rss_bytes(proc)
    maxrss_after_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    records, note = [], None
    if cfg["phases"] and cfg["library"] == "daskmix":
        note = mf._trace_computes(records)
    kwargs = dict(
        n_components=cfg["components"], covariance_type=cfg["covariance_type"],
        max_iter=cfg["max_iter"], tol=0, random_state=0, init_params="kmeans",
    )
    if cfg["library"] == "daskmix":
        model = daskmix.GaussianMixture(**kwargs)
        context = dask.config.set(scheduler=cfg["scheduler"])
    else:
        model = sklearn.mixture.GaussianMixture(**kwargs)
        context = dask.config.set()  # no-op
    with mf._Sampler(proc, cfg["sample_interval"]) as sampler, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        t_fit = time.perf_counter()
        with context:
            model.fit(X)
        t_end = time.perf_counter()

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    phases, previous_end = [], t_fit
    for name, start, end in records:
        if start - previous_end > 0.05:
            phases.append(("client (between passes)", previous_end, start))
        phases.append((name, start, end))
        previous_end = end
    if records and t_end - previous_end > 0.05:
        phases.append(("client (after last pass)", previous_end, t_end))
    result = {
        "baseline": baseline,
        "after_data": after_data,
        "maxrss_after_data": maxrss_after_data,
        "peak_kernel": maxrss,
        "peak_sampler_fit": sampler.peak(t_fit, t_end),
        "data_time": data_time,
        "fit_time": t_end - t_fit,
        "n_iter": int(model.n_iter_),
        "lower_bound": float(model.lower_bound_),
        "phases": [(n, e - s, sampler.peak(s, e)) for n, s, e in phases],
        "note": note,
        "versions": {
            "numpy": np.__version__, "dask": dask.__version__,
            "scikit-learn": sklearn.__version__, "psutil": psutil.__version__,
            "daskmix": getattr(daskmix, "__version__", "?"),
            "daskmix_path": os.path.dirname(os.path.dirname(os.path.abspath(daskmix.__file__))),
        },
        "blas": mf._blas_threads(),
    }
    print("RESULT " + json.dumps(result, default=float), flush=True)


# --------------------------------------------------------------------------
# parent: repeats, medians, table
# --------------------------------------------------------------------------
def run_child(cfg, timeout, blas_threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cfg)]
    env = dict(os.environ)
    if blas_threads:
        env.update({name: str(blas_threads) for name in mf.BLAS_ENV})
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(proc.stdout + proc.stderr)
    raise RuntimeError(f"child failed (exit code {proc.returncode}): {cfg}")


def _med(results, fn):
    return statistics.median(fn(r) for r in results)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--features", type=int, default=32, help="columns (float64)")
    p.add_argument("--blobs", type=int, default=32, help="Gaussian blobs in the data")
    p.add_argument("--components", type=int, default=32, help="n_components of the fit")
    p.add_argument("--covariance-types", nargs="+", default=["diag", "full"],
                   choices=["full", "tied", "diag", "spherical"])
    p.add_argument("--libraries", nargs="+", default=["daskmix", "sklearn"],
                   choices=["daskmix", "sklearn"])
    p.add_argument("--max-iter", type=int, default=10,
                   help="EM iterations (tol=0, so exactly this many)")
    p.add_argument("--budget-mb", type=float, default=300.0,
                   help="bound on peak - (baseline + data size), in MB (10^6 bytes)")
    p.add_argument("--block-rows", type=int, default=125_000,
                   help="rows per block when generating the data")
    mf.add_measurement_options(p, timeout=3600.0)
    args = p.parse_args(argv)

    if args.child:
        child(json.loads(args.child))
        return 0

    data_bytes = args.rows * args.features * 8
    base = dict(rows=args.rows, features=args.features, blobs=args.blobs,
                components=args.components, max_iter=args.max_iter,
                scheduler=args.scheduler, block_rows=args.block_rows,
                sample_interval=args.sample_interval, phases=args.phases)
    machine = mf._machine()
    print(f"machine: nproc={machine.get('nproc')} (affinity {machine.get('affinity')}), "
          f"{machine.get('mem_gib', float('nan')):.1f} GiB RAM, {machine['platform']}")
    print(f"data: {args.rows:,d} x {args.features} float64 NumPy array "
          f"({data_bytes / MB:.1f} MB), {args.blobs} blobs; GaussianMixture("
          f"n_components={args.components}, max_iter={args.max_iter}, tol=0, "
          f"random_state=0, init_params='kmeans'); daskmix scheduler={args.scheduler!r}; "
          f"median of {args.repeats} fresh subprocess(es) per row")
    print(f"BLAS threads per process: {args.blas_threads or 'library/environment default'}; "
          f"load average before the run: {os.getloadavg()[0]:.2f}")

    t0 = time.perf_counter()
    rows, raw = [], []
    for cov in args.covariance_types:
        for library in args.libraries:
            cfg = dict(base, library=library, covariance_type=cov)
            results = []
            for r in range(args.repeats):
                res = run_child(cfg, args.timeout, args.blas_threads)
                results.append(res)
                raw.append(dict(cfg, repeat=r, **res))
                print(f"  {library:8s} {cov:5s} repeat {r + 1}/{args.repeats}: "
                      f"baseline {res['baseline'] / MB:6.1f}, after data "
                      f"{res['after_data'] / MB:6.1f}, peak {res['peak_kernel'] / MB:7.1f} MB "
                      f"(sampler {res['peak_sampler_fit'] / MB:7.1f}); data {res['data_time']:.1f} s, "
                      f"fit {res['fit_time']:.1f} s", flush=True)
                if res["maxrss_after_data"] > res["after_data"] + 16 * MB:
                    print(f"    warning: RSS high-water mark after generating the data "
                          f"({res['maxrss_after_data'] / MB:.1f} MB) is above RSS after data")
                if res.get("note"):
                    print("    note:", res["note"])
            rows.append((library, cov, results))

    daskmix_path = mf.print_provenance(rows[0][2][0])
    header = (f"{'library':8s} {'cov':5s} {'base MB':>8s} {'+data MB':>8s} {'peak MB':>8s} "
              f"{'sampler':>8s} {'overhead':>8s} {'peak-aft':>8s} {'fit s':>7s} {'iters':>5s} "
              f"{'lower bd':>9s}  budget")
    print(header)
    print("-" * len(header))
    summary, ok = {}, True

    def overhead(r):
        return (r["peak_kernel"] - r["baseline"] - data_bytes) / MB

    for library, cov, results in rows:
        over = _med(results, overhead)
        peak = _med(results, lambda r: r["peak_kernel"]) / MB
        passed = over < args.budget_mb
        if library == "daskmix":
            ok &= passed
        summary[(library, cov)] = (peak, over)
        print(f"{library:8s} {cov:5s} {_med(results, lambda r: r['baseline']) / MB:8.1f} "
              f"{_med(results, lambda r: r['after_data']) / MB:8.1f} {peak:8.1f} "
              f"{_med(results, lambda r: r['peak_sampler_fit']) / MB:8.1f} {over:8.1f} "
              f"{_med(results, lambda r: (r['peak_kernel'] - r['after_data']) / MB):8.1f} "
              f"{_med(results, lambda r: r['fit_time']):7.1f} "
              f"{int(_med(results, lambda r: r['n_iter'])):5d} "
              f"{_med(results, lambda r: r['lower_bound']):9.4f}  "
              f"{'PASS' if passed else 'FAIL'} (< {args.budget_mb:g} MB)")
    print(f"\noverhead = peak - (baseline + {data_bytes / MB:.1f} MB of data); "
          f"peak-aft = peak - RSS after data")
    for cov in args.covariance_types:
        if ("daskmix", cov) in summary and ("sklearn", cov) in summary:
            dm, sk = summary[("daskmix", cov)], summary[("sklearn", cov)]
            print(f"{cov}: scikit-learn / daskmix peak RSS = {sk[0] / dm[0]:.2f}x; "
                  f"overhead = {sk[1] / dm[1]:.2f}x")

    if args.phases:
        for library, cov, results in rows:
            if library != "daskmix":
                continue
            res = sorted(results, key=lambda r: r["peak_kernel"])[len(results) // 2]
            print(f"\nphases of the median-peak daskmix {cov} fit (sampled RSS, MB; "
                  f"baseline {res['baseline'] / MB:.1f}, after data {res['after_data'] / MB:.1f}):")
            for name, seconds, peak in res["phases"]:
                name = ",".join(n for n in name.split(",") if n != "daskmix-input") or name
                print(f"  {name:50s} {seconds:7.2f} s  peak {peak / MB:7.1f}")

    print(f"\ntotal benchmark wall time {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "args": vars(args),
                       "daskmix_git": mf._git_state(daskmix_path), "runs": raw},
                      f, indent=1, default=float)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
