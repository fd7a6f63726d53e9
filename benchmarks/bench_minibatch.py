"""Mini-batch (stepwise) EM against exact EM on a zarr store larger than the memory budget.

The claim checked (issue 5): on 10,000,000 x 32 float32 blobs (K=64
components) stored as zarr on disk (1.28 GB), ``GaussianMixture(64,
covariance_type="diag", algorithm="minibatch")`` reaches a per-sample
log-likelihood within 0.5% of exact EM's final one using at most 3 passes
over the data, in less wall time than exact EM needs to converge, while the
peak resident memory of the process stays under 1 GB.

One command does everything::

    python benchmarks/bench_minibatch.py            # the issue's case
    python benchmarks/bench_minibatch.py --quick    # small shapes, a smoke run

Steps, each in a fresh Python subprocess (so each peak RSS is its own; the
parent imports only the standard library, see ``memory_fit.py``):

1. **write**: the data set is drawn chunk by chunk and written to a zarr
   store (``--store``; reused when it already holds the same data set).
   Row ``i`` of chunk ``b`` comes from ``numpy.random.default_rng([seed, b])``:
   a blob label drawn with the mixture's weights, then the blob's mean plus
   its diagonal scales times standard normals. Rows are in random order
   within and across chunks, and the whole array never exists in memory.
   The blob means are uniform in ``[-spread, spread]`` per feature and the
   scales in ``[0.5, 2]``. The default ``--spread 0.7`` makes the 64 blobs
   overlap, the regime the claim is about: exact EM needs tens of passes
   (33 at 1,000,000 rows). With well-separated blobs (``--spread 10``, the
   spread of ``memory_fit.py``'s data) exact EM from a k-means start
   converges in about 3 passes, and mini-batch EM, which needs one to two
   passes before its early stopping triggers plus a few milliseconds of
   scheduling per update, is only about as fast (figures at 1,000,000 rows
   in ``docs/benchmarks.md``).
2. **init**: one initialisation, shared by both fits: ``init_params="kmeans"``
   on three batches of the store (``algorithm="minibatch", max_iter=0``), saved
   as ``weights_init``, ``means_init`` and ``precisions_init``.
3. **exact**: ``algorithm="em"`` from that start until converged (``tol``,
   scikit-learn's default 1e-3), on ``dask.array.from_zarr(store)``.
4. **minibatch**: ``algorithm="minibatch"``, ``batch_size=--batch-size``,
   ``max_iter=3`` passes (it may stop earlier), from the same start.

Every fit is followed, in the same child, by ``score(X)``: one exact pass
that evaluates the final per-sample log-likelihood the same way for both.
The fit's wall time excludes it; the child's peak RSS (the kernel's
``ru_maxrss`` high-water mark, plus a psutil sampler) includes it. Passes
are EM iterations for exact EM and rows used / rows for mini-batch EM.

The exit status is 1 when a claim fails (``--quick`` reports but never
fails). Results: ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import memory_fit as mf  # imports only the standard library at module level

MB = mf.MB
DATA_SEED = 20250105
FULL = dict(rows=10_000_000, features=32, components=64, chunk_rows=65_536,
            batch_size=65_536)
QUICK = dict(rows=200_000, features=8, components=8, chunk_rows=8_192, batch_size=8_192)


# --------------------------------------------------------------------------
# children
# --------------------------------------------------------------------------
def _mixture_spec(cfg, np):
    """Weights, means and diagonal scales of the blobs the data are drawn from."""
    rng = np.random.default_rng(DATA_SEED)
    k, d = cfg["components"], cfg["features"]
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.uniform(-cfg["spread"], cfg["spread"], size=(k, d))
    scales = rng.uniform(0.5, 2.0, size=(k, d))
    return weights, means, scales


def _chunk(cfg, b, spec, np):
    """Rows of chunk ``b``, float32, in random order."""
    weights, means, scales = spec
    start = b * cfg["chunk_rows"]
    n = min(cfg["chunk_rows"], cfg["rows"] - start)
    rng = np.random.default_rng([DATA_SEED, b])
    labels = rng.choice(len(weights), size=n, p=weights)
    X = rng.standard_normal((n, cfg["features"]), dtype=np.float32)
    X *= scales[labels].astype(np.float32)
    X += means[labels].astype(np.float32)
    return X


def _store_matches(cfg):
    import zarr

    try:
        z = zarr.open_array(cfg["store"], mode="r")
    except Exception:
        return False
    return dict(z.attrs).get("spec") == _spec_attrs(cfg)


def _spec_attrs(cfg):
    return {k: cfg[k] for k in ("rows", "features", "components", "chunk_rows", "spread")} | {
        "seed": DATA_SEED
    }


def child_write(cfg):
    import numpy as np
    import zarr

    if _store_matches(cfg):
        return {"reused": True}
    spec = _mixture_spec(cfg, np)
    z = zarr.open_array(cfg["store"], mode="w", shape=(cfg["rows"], cfg["features"]),
                        chunks=(cfg["chunk_rows"], cfg["features"]), dtype="float32")
    n_chunks = -(-cfg["rows"] // cfg["chunk_rows"])
    for b in range(n_chunks):
        start = b * cfg["chunk_rows"]
        z[start : start + cfg["chunk_rows"]] = _chunk(cfg, b, spec, np)
    z.attrs["spec"] = _spec_attrs(cfg)
    return {"reused": False}


def _estimator(cfg, **kwargs):
    from daskmix import GaussianMixture

    return GaussianMixture(cfg["components"], covariance_type="diag", random_state=0,
                           **kwargs)


def child_init(cfg):
    import dask.array as da
    import numpy as np

    X = da.from_zarr(cfg["store"])
    gm = _estimator(cfg, algorithm="minibatch", batch_size=cfg["batch_size"], max_iter=0)
    gm.fit(X)
    weights = gm.weights_.astype(np.float64)  # fitted in float32: renormalise
    np.savez(cfg["init"], weights=weights / weights.sum(),
             means=gm.means_.astype(np.float64),
             precisions=gm.precisions_.astype(np.float64))
    return {}


def child_fit(cfg):
    import warnings

    import dask
    import dask.array as da
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    init = np.load(cfg["init"])
    kwargs = dict(weights_init=init["weights"], means_init=init["means"],
                  precisions_init=init["precisions"])
    if cfg["algorithm"] == "minibatch":
        kwargs.update(algorithm="minibatch", batch_size=cfg["batch_size"],
                      max_iter=cfg["passes"])
    else:
        kwargs.update(algorithm="em", max_iter=cfg["max_em_iter"])
    X = da.from_zarr(cfg["store"])
    gm = _estimator(cfg, **kwargs)
    with dask.config.set(scheduler=cfg["scheduler"]), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        gm.fit(X)
        fit_time = time.perf_counter() - t0
        t0 = time.perf_counter()
        score = gm.score(X)
        score_time = time.perf_counter() - t0
    if cfg["algorithm"] == "minibatch":
        passes = gm.n_samples_seen_ / X.shape[0]
    else:
        passes = float(gm.n_iter_)
    return {"fit_time": fit_time, "score_time": score_time, "score": float(score),
            "passes": passes, "n_iter": int(gm.n_iter_), "converged": bool(gm.converged_),
            "n_steps": int(getattr(gm, "n_steps_", 0))}


CHILDREN = {"write": child_write, "init": child_init, "fit": child_fit}


def child(cfg):
    import resource

    import psutil

    proc = psutil.Process()
    with mf._Sampler(proc, 0.02) as sampler:
        t0 = time.perf_counter()
        out = CHILDREN[cfg["step"]](cfg)
        wall = time.perf_counter() - t0
    out.update(
        wall=wall,
        peak_kernel=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        peak_sampler=sampler.peak(),
    )
    if cfg["step"] == "fit":
        import dask
        import numpy as np
        import sklearn

        import daskmix

        out["versions"] = {
            "python": sys.version.split()[0], "numpy": np.__version__,
            "dask": dask.__version__, "scikit-learn": sklearn.__version__,
            "daskmix": getattr(daskmix, "__version__", "?"),
            "daskmix_path": os.path.dirname(os.path.dirname(os.path.abspath(daskmix.__file__))),
            "psutil": psutil.__version__,
        }
        out["blas"] = mf._blas_threads()
    print("RESULT " + json.dumps(out, default=float), flush=True)


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------
def run_child(cfg, timeout):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(cfg)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(proc.stdout + proc.stderr)
    raise RuntimeError(f"child {cfg['step']} failed (exit code {proc.returncode})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"small shapes, a smoke run: {QUICK}")
    for name, value in FULL.items():
        p.add_argument("--" + name.replace("_", "-"), type=int, default=None,
                       help=f"default {value:,d} ({QUICK[name]:,d} with --quick)")
    p.add_argument("--store", default=None,
                   help="zarr store path (default: a directory under the system temp dir "
                        "named after the shape; reused when it holds the same data)")
    p.add_argument("--spread", type=float, default=0.7,
                   help="blob means are uniform in [-spread, spread] per feature (scales are "
                        "0.5 to 2): 0.7 makes the blobs overlap, so exact EM needs tens of "
                        "passes; 10 separates them, and exact EM converges in about 3")
    p.add_argument("--passes", type=int, default=3, help="mini-batch max_iter (passes)")
    p.add_argument("--max-em-iter", type=int, default=500, help="exact EM max_iter")
    p.add_argument("--scheduler", default="threads", choices=["threads", "sync"])
    p.add_argument("--bound-mb", type=float, default=1000.0, help="peak RSS bound, MB")
    p.add_argument("--gap", type=float, default=0.005,
                   help="largest relative log-likelihood gap to exact EM")
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds per child")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0

    shape = dict(QUICK if args.quick else FULL)
    shape.update({k: getattr(args, k) for k in FULL if getattr(args, k) is not None})
    store = args.store or os.path.join(
        tempfile.gettempdir(), "daskmix-bench",
        f"blobs-{shape['rows']}x{shape['features']}-k{shape['components']}"
        f"-c{shape['chunk_rows']}-s{args.spread:g}.zarr",
    )
    os.makedirs(os.path.dirname(os.path.abspath(store)), exist_ok=True)
    base = dict(shape, spread=args.spread, store=store, init=store + ".init.npz",
                passes=args.passes, max_em_iter=args.max_em_iter, scheduler=args.scheduler)
    machine = mf._machine()
    data_gb = shape["rows"] * shape["features"] * 4 / 1e9
    print(f"machine: nproc={machine.get('nproc')} (affinity {machine.get('affinity')}), "
          f"{machine.get('mem_gib', float('nan')):.1f} GiB RAM, {machine['platform']}; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"data: {shape['rows']:,d} x {shape['features']} float32 ({data_gb:.2f} GB), "
          f"{shape['components']} blobs (spread {args.spread:g}), zarr chunks of "
          f"{shape['chunk_rows']:,d} rows at {store}")
    print(f"GaussianMixture({shape['components']}, covariance_type='diag'); mini-batch: "
          f"batch_size={shape['batch_size']:,d}, max_iter={args.passes} passes; exact: tol=1e-3, "
          f"max_iter={args.max_em_iter}; scheduler={args.scheduler!r}")

    t_start = time.perf_counter()
    written = run_child(dict(base, step="write"), args.timeout)
    print(f"write: {'reused existing store' if written['reused'] else 'written'} in "
          f"{written['wall']:.1f} s, peak RSS {written['peak_kernel'] / MB:.0f} MB")
    init = run_child(dict(base, step="init"), args.timeout)
    print(f"init (kmeans on 3 batches): {init['wall']:.1f} s, peak RSS "
          f"{init['peak_kernel'] / MB:.0f} MB")
    results = {}
    for algorithm in ("exact", "minibatch"):
        cfg = dict(base, step="fit", algorithm="minibatch" if algorithm == "minibatch" else "em")
        results[algorithm] = run_child(cfg, args.timeout)
        print(f"{algorithm}: fit {results[algorithm]['fit_time']:.1f} s", flush=True)
    print()
    mf.print_provenance(results["minibatch"])

    exact, mini = results["exact"], results["minibatch"]
    gap = (exact["score"] - mini["score"]) / abs(exact["score"])
    header = (f"{'algorithm':10s} {'fit s':>8s} {'passes':>7s} {'steps':>6s} {'converged':>9s} "
              f"{'score (ll/sample)':>18s} {'gap':>8s} {'score s':>8s} {'peak MB':>8s} "
              f"{'sampler':>8s}")
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        rel = (exact["score"] - r["score"]) / abs(exact["score"])
        print(f"{name:10s} {r['fit_time']:8.1f} {r['passes']:7.2f} {r['n_steps']:6d} "
              f"{r['converged']!s:>9s} {r['score']:18.6f} {rel:8.2%} {r['score_time']:8.1f} "
              f"{r['peak_kernel'] / MB:8.0f} {r['peak_sampler'] / MB:8.0f}")
    claims = {
        f"log-likelihood within {args.gap:.1%} of exact EM's": gap <= args.gap,
        f"at most {args.passes} passes": mini["passes"] <= args.passes + 1e-9,
        "less fit wall time than exact EM": mini["fit_time"] < exact["fit_time"],
        f"peak RSS under {args.bound_mb:g} MB (both fits)": max(
            exact["peak_kernel"], mini["peak_kernel"]) / MB < args.bound_mb,
    }
    print()
    for claim, ok in claims.items():
        print(f"{'PASS' if ok else 'FAIL'}  mini-batch EM: {claim}")
    print(f"\ngap {gap:.4%}; speed-up {exact['fit_time'] / mini['fit_time']:.2f}x; "
          f"total benchmark wall time {time.perf_counter() - t_start:.0f} s")
    if args.quick:
        return 0
    return 0 if all(claims.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
