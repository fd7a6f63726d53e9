"""``daskmix demo``: a Gaussian mixture fitted to lazily generated data.

``daskmix demo`` fits a Gaussian mixture to a synthetic data set that exists
only as a lazy dask array: every chunk is drawn inside its own task from a
seed derived from the chunk index, so the client never holds more than the
small true parameters. The run prints what was fitted, how long it took and
how well the fitted means recover the true ones.

The lazy array is built by ``daskmix._dask.graph.generate_rows``, the
cluster started by ``daskmix._dask.scheduler``; ``distributed`` is imported
only when a cluster or client is involved.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from daskmix import GaussianMixture
from daskmix._dask import graph as _graph
from daskmix._dask.scheduler import active_dashboard, start_local_cluster
from daskmix.cli._common import int_at_least, lines
from daskmix.mixture.covariance import COVARIANCE_TYPES

__all__ = [
    "NO_DASHBOARD",
    "BlobMixture",
    "add_parser",
    "lazy_blobs",
    "make_blob_mixture",
    "match_components",
    "run",
]

#: Marker printed when the default threaded scheduler runs the demo.
NO_DASHBOARD = (
    "none: the default threaded scheduler has no dashboard; run "
    "`daskmix demo --dashboard` to start a distributed LocalCluster with 2 "
    "workers and get a dashboard link"
)


# ---- argument parsing ------------------------------------------------------
def add_parser(commands):
    """Add the ``demo`` subcommand.

    Parameters
    ----------
    commands : argparse._SubParsersAction
        The ``daskmix`` subcommands.
    """
    demo = commands.add_parser(
        "demo",
        help="fit a mixture to a lazily generated synthetic data set",
        description=(
            "Generate a mixture of Gaussian blobs as a lazy dask array (each chunk "
            "is drawn inside its task, never in the client), fit "
            "daskmix.GaussianMixture to it and print a summary."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--rows", type=int_at_least(2), default=2_000_000,
                      help="number of rows (samples)")
    demo.add_argument("--features", type=int_at_least(1), default=16,
                      help="number of features")
    demo.add_argument("--components", type=int_at_least(1), default=8,
                      help="number of true blobs, and of components fitted")
    demo.add_argument("--covariance-type", choices=sorted(COVARIANCE_TYPES), default="diag",
                      help="covariance type of the fitted model")
    demo.add_argument("--chunk-rows", type=int_at_least(1), default=250_000,
                      help="rows per dask chunk")
    demo.add_argument("--seed", type=int_at_least(0), default=0,
                      help="seed of the synthetic data")
    demo.add_argument("--max-iter", type=int_at_least(1), default=100,
                      help="maximum number of EM iterations")
    demo.add_argument("--dashboard", action="store_true",
                      help="start a distributed LocalCluster (2 workers) and print "
                           "its dashboard link")
    demo.set_defaults(run=run, check=_check_demo_args, parser=demo)


def _check_demo_args(args):
    """Checks across ``demo`` options; ``args.parser.error`` exits with status 2.

    Parameters
    ----------
    args : argparse.Namespace
    """
    if args.rows < args.components:
        args.parser.error(f"argument --rows: must be at least --components ({args.components})")


# ---- synthetic data --------------------------------------------------------
@dataclass(frozen=True)
class BlobMixture:
    """The true parameters of the demo's diagonal Gaussian mixture.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    stds : ndarray of shape (n_components, n_features)
        Per-feature standard deviations.
    """

    weights: np.ndarray
    means: np.ndarray
    stds: np.ndarray


def make_blob_mixture(n_components, n_features, seed):
    """Draw well separated true parameters for the demo.

    Centres are uniform in ``[-10, 10]`` per feature, standard deviations in
    ``[0.5, 1.5]``, and weights from a Dirichlet(5) so that no blob is tiny.

    Parameters
    ----------
    n_components, n_features, seed : int

    Returns
    -------
    BlobMixture
    """
    rng = np.random.default_rng([seed, 0])
    return BlobMixture(
        weights=rng.dirichlet(np.full(n_components, 5.0)),
        means=rng.uniform(-10.0, 10.0, size=(n_components, n_features)),
        stds=rng.uniform(0.5, 1.5, size=(n_components, n_features)),
    )


def _blob_chunk(start, stop, chunk_index, *, weights, means, stds, seed):
    """Draw the rows ``start:stop`` of the demo data; runs inside a dask task.

    Parameters
    ----------
    start, stop : int
        The chunk's rows.
    chunk_index : int
        The chunk's seed is ``(seed, 1 + chunk_index)``.
    weights, means, stds : ndarray
        See :class:`BlobMixture`.
    seed : int

    Returns
    -------
    ndarray of shape (stop - start, n_features), float64
    """
    rng = np.random.default_rng([seed, 1 + chunk_index])
    labels = rng.choice(len(weights), size=stop - start, p=weights)
    noise = rng.standard_normal((stop - start, means.shape[1]))
    noise *= stds[labels]
    noise += means[labels]
    return noise


def lazy_blobs(mixture, n_rows, chunk_rows, seed):
    """A lazy dask array of rows drawn from ``mixture``.

    Parameters
    ----------
    mixture : BlobMixture
    n_rows, chunk_rows, seed : int

    Returns
    -------
    dask.array.Array of shape (n_rows, n_features), float64
        Nothing is computed; each chunk is drawn when a task needs it, and
        drawn again on every pass (the array is not persisted).
    """
    chunk_rows = min(chunk_rows, n_rows)
    n_full, rest = divmod(n_rows, chunk_rows)
    row_chunks = (chunk_rows,) * n_full + ((rest,) if rest else ())
    return _graph.generate_rows(
        _blob_chunk, row_chunks, mixture.means.shape[1], name="demo-blobs",
        dtype=np.float64,
        weights=mixture.weights, means=mixture.means, stds=mixture.stds, seed=seed,
    )


# ---- results ---------------------------------------------------------------
def match_components(fitted_means, true_means):
    """Pair fitted and true components one to one, minimising total distance.

    Parameters
    ----------
    fitted_means : ndarray of shape (n_components, n_features)
    true_means : ndarray of shape (n_components, n_features)

    Returns
    -------
    fitted_index : ndarray of shape (n_components,)
        ``fitted_index[j]`` is the fitted component matched to true component ``j``.
    errors : ndarray of shape (n_components,)
        Euclidean distance between true mean ``j`` and its matched fitted mean.
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    distances = cdist(true_means, fitted_means)
    true_index, fitted_index = linear_sum_assignment(distances)
    return fitted_index, distances[true_index, fitted_index]


def _dashboard_note(link):
    """One line on where to watch the computation.

    Parameters
    ----------
    link : str or None

    Returns
    -------
    str
    """
    if link is None:
        return NO_DASHBOARD
    try:
        import bokeh  # noqa: F401  (the dashboard needs it)
    except ImportError:
        return f"{link} (the dashboard needs bokeh: python -m pip install 'daskmix[dashboard]')"
    return link


def _component_table(mixture, gm):
    """The per-component table and the largest mean error.

    Parameters
    ----------
    mixture : BlobMixture
    gm : daskmix.GaussianMixture, fitted

    Returns
    -------
    rows : list of str
    max_error : float
    """
    fitted_index, errors = match_components(gm.means_, mixture.means)
    rows = ["  true  fitted  true weight  fitted weight  mean error  (mean std)"]
    for j, (k, error) in enumerate(zip(fitted_index, errors, strict=True)):
        rows.append(
            f"  {j:>4}  {k:>6}  {mixture.weights[j]:>11.4f}  {gm.weights_[k]:>13.4f}"
            f"  {error:>10.4f}  ({mixture.stds[j].mean():.2f})"
        )
    return rows, float(errors.max())


# ---- the demo --------------------------------------------------------------
def run(args):
    """Run ``daskmix demo``: generate, fit, print the summary.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``demo`` options.

    Returns
    -------
    int
        The exit code, 0.
    """
    client = start_local_cluster() if args.dashboard else None
    try:
        return _fit_and_report(args, _dashboard_note(active_dashboard()))
    finally:
        if client is not None:
            client.close()
            client.cluster.close()


def _fit_and_report(args, dashboard):
    """Fit the demo model on the current scheduler and print the summary.

    Parameters
    ----------
    args : argparse.Namespace
    dashboard : str
        The dashboard line.

    Returns
    -------
    int
        The exit code, 0.
    """
    mixture = make_blob_mixture(args.components, args.features, args.seed)
    X = lazy_blobs(mixture, args.rows, args.chunk_rows, args.seed)
    print("daskmix demo: a Gaussian mixture fitted to a lazily generated dask array")
    print(lines([
        ("rows", f"{X.shape[0]:,}"),
        ("features", X.shape[1]),
        ("true components", args.components),
        ("chunks", (f"{X.numblocks[0]} of up to {X.chunks[0][0]:,} rows "
                   f"({X.chunks[0][0] * X.shape[1] * 8 / 2**20:.1f} MiB), "
                   "each drawn inside its task")),
        ("dashboard", dashboard),
    ]), flush=True)

    gm = GaussianMixture(
        n_components=args.components, covariance_type=args.covariance_type,
        max_iter=args.max_iter, random_state=0, progress=True,
    )
    fit_seconds, bic, bic_seconds = _timed_fit(gm, X)
    table, max_error = _component_table(mixture, gm)
    print(f"\nfit: GaussianMixture(n_components={args.components}, "
          f"covariance_type={args.covariance_type!r})")
    print(lines([
        ("time", f"{fit_seconds:.1f} s (initialisation and {gm.n_iter_} EM passes)"),
        ("iterations", gm.n_iter_),
        ("converged", gm.converged_),
        ("lower bound", f"{gm.lower_bound_:.6f} (mean log-likelihood per row)"),
        ("BIC", f"{bic:.6g} (one more pass, {bic_seconds:.1f} s)"),
    ]))
    print("\ncomponents, each true blob matched to one fitted component:")
    print("\n".join(table))
    print(f"\nmax mean error: {max_error:.6f}")
    return 0


def _timed_fit(gm, X):
    """Fit ``gm`` on ``X``, then compute its BIC, timing both.

    Parameters
    ----------
    gm : daskmix.GaussianMixture
    X : dask.array.Array

    Returns
    -------
    fit_seconds : float
    bic : float
    bic_seconds : float
    """
    start = time.perf_counter()
    gm.fit(X)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    bic = gm.bic(X)
    return fit_seconds, bic, time.perf_counter() - start
