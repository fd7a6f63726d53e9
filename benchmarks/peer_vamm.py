"""Peer column for the truncated-EM benchmark: the authors' C++/OpenMP ``vamm``.

``vamm`` (Salwig, Kahlke, Hirschberger, Forster and Lücke, "Sublinear
Variational Optimization of Gaussian Mixture Models with Millions to Billions
of Parameters", arXiv 2501.12299 / JMLR 27(167), 2026) is the reference
implementation of the truncated variational EM that daskmix's truncated EM
follows. This module times it on the same data as daskmix and returns a small
dict, or ``None`` when ``vamm`` is not importable, so the benchmark simply
leaves the column out.

How to get the column
---------------------
``vamm`` is not a dependency of daskmix and is not on PyPI. Build it from the
authors' repository (``variational-sublinear-clustering/vamm`` on GitHub,
Academic Free License 3.0) and install it into the same Python environment
as daskmix, following its README (``pip install .`` in a checkout with its
submodules). It needs a C++17 compiler with OpenMP, Eigen 3.4, pybind11 and
the header-only Boost.Unordered of Boost 1.81 or newer (for
``unordered_flat_map``); where the system's Boost is older, point its
``vamm/extern/boost/*/include`` folders at newer Boost headers (for example
those of the ``boost-headers`` wheel). ``import vamm`` must then work; nothing
else is needed. Its build uses ``-march=native``, so build it on the machine
that runs the benchmark.

What is measured
----------------
Each run is one ``vamm.Gaussian(...).fit`` with ``eps=0`` so that it runs a
fixed number of iterations: AFK-MC² seeding, ``n_init_esteps`` E-steps
without M-step (vamm's own warm-up phase, which by default runs until the
free energy settles; fixed here so that both runs do the same work), then
``n_iter`` EM iterations (E-step with the K(n) and g_c updates, then M-step)
and one final E-step. Seconds per iteration are the difference of a run with
``n_iter_long`` and a run with ``n_iter_short`` iterations divided by the
difference in iterations, so seeding and warm-up cancel. One discarded run
warms the machine up first; each repeat then runs both fits from the same
seed (interleaved), and the median over repeats is reported. OpenMP runs
``n_threads`` threads.

Run from the repository root::

    python benchmarks/peer_vamm.py --quick     # 100,000 x 32, K = 64, a smoke run
    python benchmarks/peer_vamm.py             # 1,000,000 x 32, K = 64, 256, 1024
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

#: daskmix's covariance types -> (vamm's covariance_type, shared)
_VAMM_COVARIANCE = {
    "diag": ("diagonal", False),
    "spherical": ("isotropic", False),
    "full": ("full", False),
    "tied": ("full", True),
}


def make_blobs(n_samples, n_features, n_centres, *, seed=0, separation=4.0, dtype=np.float64):
    """Gaussian blobs: the data both columns of the truncated-EM benchmark use.

    ``n_centres`` centres are drawn from N(0, separation**2 I); each point takes
    a uniformly drawn centre plus N(0, I) noise. The definition is the one of
    ``bench_em.make_data`` (same generator calls in the same order), so the
    same seed gives the same points.

    Parameters
    ----------
    n_samples, n_features, n_centres : int
        Shape of the data and number of blob centres.
    seed : int, default=0
        Seed of ``numpy.random.default_rng``.
    separation : float, default=4.0
        Standard deviation of the centres (the noise has unit variance).
    dtype : numpy dtype, default=float64

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(n_centres, n_features))
    labels = rng.integers(n_centres, size=n_samples)
    X = centres[labels] + rng.normal(size=(n_samples, n_features))
    return np.ascontiguousarray(X, dtype=dtype)


def _import_vamm():
    """Return ``(vamm.Gaussian, cpputils.omp)`` or ``None`` when vamm is missing."""
    try:
        from vamm import Gaussian
        from vamm.utils import omp
    except ImportError:
        return None
    return Gaussian, omp


def vamm_available():
    """Whether ``vamm`` imports in this environment."""
    return _import_vamm() is not None


def _fit_once(Gaussian, X, n_components, covariance_type, n_iter, *, n_active, n_neighbors,
              n_random, n_init_esteps, reg_covar, seed):
    """One fixed-length vamm fit; returns (seconds, fitted model)."""
    vamm_type, shared = _VAMM_COVARIANCE[covariance_type]
    model = Gaussian(C=n_components, D=X.shape[1], covariance_type=vamm_type, shared=shared,
                     reg_covar=reg_covar)
    start = time.perf_counter()
    model.fit(X, limit=[n_init_esteps, n_iter], eps=0.0, rng=seed, C_prime=n_active,
              G=n_neighbors, E=n_random)
    return time.perf_counter() - start, model


def _timed_iterations(log, n_iter_short):
    """Rows of vamm's fit log for the EM iterations the difference times."""
    em_rows = log[log["M_step"]]
    return em_rows[em_rows["i"] >= n_iter_short]


def vamm_iteration_cost(X, n_components, *, n_active=3, n_neighbors=15, n_random=1,
                        covariance_type="diag", n_iter_short=2, n_iter_long=6, repeats=3,
                        seed=0, n_init_esteps=5, reg_covar=1e-3, n_threads=None):
    """Seconds per iteration of vamm's truncated variational EM on ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        In-memory data; converted to C-contiguous float64 (vamm's build precision).
    n_components : int
        Number of mixture components C.
    n_active : int, default=3
        C' (vamm ``C_prime``): components kept per point.
    n_neighbors : int, default=15
        G: size of each component's neighbourhood g_c, itself included.
    n_random : int, default=1
        E: random components added to each point's search space per E-step.
    covariance_type : {"diag", "spherical", "full", "tied"}, default="diag"
        daskmix's name; mapped to vamm's ``diagonal``, ``isotropic``, ``full``
        and shared ``full``.
    n_iter_short, n_iter_long : int, default=2, 6
        EM iterations of the two timed fits (``n_iter_long > n_iter_short``).
    repeats : int, default=3
        Timed pairs of fits; the median is reported.
    seed : int, default=0
        Seed of every fit (seeding, K(n), g_c), so both fits of a pair do the
        same work up to ``n_iter_short``.
    n_init_esteps : int, default=5
        E-steps without M-step after seeding (vamm's warm-up phase), in every fit.
    reg_covar : float, default=1e-3
        vamm's variance floor (its default; vamm clips variances from below,
        it does not add the value).
    n_threads : int or None, default=None
        OpenMP threads; None uses every CPU this process may run on. The
        previous OpenMP setting is restored afterwards.

    Returns
    -------
    dict or None
        None when vamm is not importable. Otherwise:

        ``seconds_per_iter``
            median over repeats of (long - short) / (n_iter_long - n_iter_short).
        ``seconds_per_iter_inner``
            cross-check: median over repeats of the mean of vamm's own
            per-iteration clock (E-step plus M-step, no Python loop) over the
            same iterations of the long fit.
        ``seconds_short``, ``seconds_long``
            median wall time of the two whole fits.
        ``evals_per_point``
            log-joint evaluations per point per EM iteration (vamm's
            ``number_ljs`` / N), averaged over the iterations that the
            difference times (``n_iter_short`` .. ``n_iter_long - 1``).
        ``free_energy_per_point``
            the truncated free energy (ELBO) per point after the long fit's
            final E-step; vamm reports its negative as its objective.
        ``n_active_components``
            components still active at the end (vamm discards empty ones).
        ``n_threads``
            OpenMP threads used.
    """
    imported = _import_vamm()
    if imported is None:
        return None
    Gaussian, omp = imported
    if covariance_type not in _VAMM_COVARIANCE:
        raise ValueError(f"covariance_type must be one of {sorted(_VAMM_COVARIANCE)}, "
                         f"got {covariance_type!r}")
    if not 0 <= n_iter_short < n_iter_long:
        raise ValueError(f"need 0 <= n_iter_short < n_iter_long, got {n_iter_short} and "
                         f"{n_iter_long}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    X = np.ascontiguousarray(X, dtype=np.float64)
    if n_threads is None:
        n_threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count())
    options = {"n_active": n_active, "n_neighbors": n_neighbors, "n_random": n_random,
               "n_init_esteps": n_init_esteps, "reg_covar": reg_covar, "seed": seed}

    previous_threads = omp.get_max_threads()
    # vamm sizes its per-thread buffers and random engines when a fit starts,
    # so the thread count must be set before any fit.
    omp.set_num_threads(n_threads)
    try:
        _fit_once(Gaussian, X, n_components, covariance_type, n_iter_short, **options)  # warm-up
        per_iter, inner, shorts, longs = [], [], [], []
        for _ in range(repeats):
            t_short, _ = _fit_once(Gaussian, X, n_components, covariance_type, n_iter_short,
                                   **options)
            t_long, model = _fit_once(Gaussian, X, n_components, covariance_type, n_iter_long,
                                      **options)
            shorts.append(t_short)
            longs.append(t_long)
            per_iter.append((t_long - t_short) / (n_iter_long - n_iter_short))
            inner.append(float(_timed_iterations(model.log, n_iter_short)["time"].mean()))
    finally:
        omp.set_num_threads(previous_threads)

    timed = _timed_iterations(model.log, n_iter_short)
    return {
        "seconds_per_iter": statistics.median(per_iter),
        "seconds_per_iter_inner": statistics.median(inner),
        "seconds_short": statistics.median(shorts),
        "seconds_long": statistics.median(longs),
        "evals_per_point": float(timed["eval"].mean()) / X.shape[0],
        "free_energy_per_point": -float(model.objective),
        "n_active_components": int(model.active),
        "n_threads": int(n_threads),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 x 32, K = 64 (smoke run)")
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=32)
    parser.add_argument("--n-centres", type=int, default=256, help="blob centres in the data")
    parser.add_argument("--components", default="64,256,1024", help="comma-separated K values")
    parser.add_argument("--covariance-type", default="diag", choices=sorted(_VAMM_COVARIANCE))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iters-short", type=int, default=2)
    parser.add_argument("--iters-long", type=int, default=6)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.components, args.repeats = 100_000, "64", 2

    if not vamm_available():
        print("vamm is not installed: no vamm column (see this script's docstring)")
        return 0
    X = make_blobs(args.n_samples, args.n_features, args.n_centres, seed=args.seed)
    print(f"{args.n_samples:,} x {args.n_features} float64 blobs, {args.n_centres} centres, "
          f"{args.covariance_type}", flush=True)
    print("| K | s/iter | s/iter (vamm clock) | evals/point | free energy/point | active | threads |")
    print("|---|---|---|---|---|---|---|")
    for k in (int(v) for v in args.components.split(",")):
        row = vamm_iteration_cost(X, k, covariance_type=args.covariance_type,
                                  n_iter_short=args.iters_short, n_iter_long=args.iters_long,
                                  repeats=args.repeats, seed=args.seed, n_threads=args.threads)
        print(f"| {k} | {row['seconds_per_iter']:.3f} | {row['seconds_per_iter_inner']:.3f} | "
              f"{row['evals_per_point']:.1f} | "
              f"{row['free_energy_per_point']:.4f} | {row['n_active_components']} | "
              f"{row['n_threads']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
