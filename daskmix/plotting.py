"""Pictures of fitted models: convergence, model selection, components, responsibilities.

Every function draws on ``ax`` (a new figure's axes when None) and returns
the axes. matplotlib is an optional dependency: ``python -m pip install
'daskmix[plot]'``. Functions that look at data read it as every daskmix
method does, chunk by chunk: :func:`plot_ellipses` gathers at most
``max_points`` random rows, and :func:`plot_responsibilities` reduces a
histogram over all rows without loading them.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from daskmix._dask import graph as _graph
from daskmix._validation import check_input
from daskmix.mixture._init import draw_rows
from daskmix.mixture.algorithms import get_algorithm

__all__ = ["plot_criteria", "plot_ellipses", "plot_lower_bounds", "plot_responsibilities"]


def _pyplot():
    """``matplotlib.pyplot``, or an ImportError naming the fix."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "daskmix.plotting needs matplotlib: python -m pip install 'daskmix[plot]' "
            "(or python -m pip install matplotlib)."
        ) from None
    return plt


def _axes(ax):
    """``ax``, or the axes of a new figure.

    Parameters
    ----------
    ax : matplotlib.axes.Axes or None

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots()
    return ax


def _colour(k):
    """The colour of component ``k``: matplotlib's default cycle.

    Parameters
    ----------
    k : int

    Returns
    -------
    str
    """
    return f"C{k % 10}"


def plot_lower_bounds(estimator, *, ax=None, label=None):
    """The lower bound (mean log-likelihood per row) at every iteration of a fit.

    Parameters
    ----------
    estimator : GaussianMixture
        Fitted.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; a new figure when None.
    label : str, default=None
        Legend label of the line (to compare several fits on one ``ax``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_is_fitted(estimator)
    ax = _axes(ax)
    bounds = np.asarray(estimator.lower_bounds_, dtype=np.float64)
    ax.plot(np.arange(1, len(bounds) + 1), bounds, marker="o", markersize=3, label=label)
    from matplotlib.ticker import MaxNLocator

    algorithm = get_algorithm(getattr(estimator, "algorithm", "em"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(algorithm.iteration_unit)
    ax.set_ylabel("lower bound (mean log-likelihood per row)")
    state = "converged" if estimator.converged_ else "did not converge"
    ax.set_title(f"{type(estimator).__name__}: {state} after {estimator.n_iter_} "
                 f"{algorithm.iteration_units}")
    ax.grid(True, alpha=0.3)
    if label is not None:
        ax.legend()
    return ax


def plot_criteria(scores, *, criterion=None, ax=None):
    """BIC or AIC against ``n_components``, one line per covariance type.

    Parameters
    ----------
    scores : pandas.DataFrame
        The table ``daskmix.mixture.select_model`` returns.
    criterion : {"bic", "aic"}, default=None
        The criterion to draw; None draws the one the table was selected by.
    ax : matplotlib.axes.Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
        The selected candidate is marked with a star.
    """
    criterion = criterion or scores.attrs.get("criterion", "bic")
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}.")
    ax = _axes(ax)
    for covariance_type, rows in scores.groupby("covariance_type", sort=False):
        rows = rows.sort_values("n_components")
        ax.plot(rows["n_components"], rows[criterion], marker="o", label=covariance_type)
    best = scores.loc[scores[criterion].idxmin()]
    ax.plot([best["n_components"]], [best[criterion]], marker="*", markersize=16,
            color="black", linestyle="none",
            label=f"lowest: {best['n_components']} {best['covariance_type']}")
    ax.set_xlabel("n_components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.set_xticks(sorted(scores["n_components"].unique()))
    ax.set_title(f"Model selection by {criterion.upper()}")
    ax.grid(True, alpha=0.3)
    ax.legend(title="covariance_type")
    return ax


def _projection(estimator, projection):
    """The 2-D projection: a (2, n_features) matrix, the centre, and axis labels.

    Parameters
    ----------
    estimator : GaussianMixture
    projection : tuple of two int, array-like of shape (2, n_features) or fitted IncrementalPCA

    Returns
    -------
    matrix : ndarray of shape (2, n_features)
    centre : ndarray of shape (n_features,)
    labels : tuple of two str
    """
    n_features = estimator.n_features_in_
    centre = np.zeros(n_features)
    if hasattr(projection, "components_"):
        if projection.components_.shape != (projection.n_components_, n_features) or (
            projection.n_components_ < 2
        ):
            raise ValueError("projection must be an IncrementalPCA fitted on the same "
                             "features, with at least 2 components.")
        return (np.asarray(projection.components_[:2], dtype=np.float64),
                np.asarray(projection.mean_, dtype=np.float64), ("PC 1", "PC 2"))
    matrix = np.asarray(projection)
    if matrix.shape == (2,) and matrix.dtype.kind in "iu":
        if not all(0 <= i < n_features for i in matrix) or matrix[0] == matrix[1]:
            raise ValueError(f"projection features must be two distinct indices in "
                             f"[0, {n_features}), got {tuple(matrix.tolist())}.")
        names = getattr(estimator, "feature_names_in_", None)
        labels = tuple(str(names[i]) if names is not None else f"feature {i}" for i in matrix)
        return np.eye(n_features)[matrix], centre, labels
    if matrix.shape != (2, n_features):
        raise ValueError(
            "projection must be two feature indices, a (2, n_features) matrix or a "
            f"fitted IncrementalPCA; got an array of shape {matrix.shape}."
        )
    return matrix.astype(np.float64), centre, ("projection 1", "projection 2")


def _ellipse(ax, mean, cov, n_std, colour, alpha):
    """Draw the ``n_std`` contour of a 2-D Gaussian.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    mean : ndarray of shape (2,)
    cov : ndarray of shape (2, 2)
    n_std : float
    colour : str
    alpha : float

    Returns
    -------
    matplotlib.patches.Ellipse
    """
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 0.0)
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    patch = Ellipse(mean, width=2 * n_std * np.sqrt(values[1]),
                    height=2 * n_std * np.sqrt(values[0]), angle=angle,
                    facecolor=colour, edgecolor=colour, alpha=alpha, linewidth=1.5)
    ax.add_patch(patch)
    return patch


def _sample_rows(estimator, X, max_points, random_state):
    """Up to ``max_points`` random rows of ``X`` (one gather) and their labels.

    Parameters
    ----------
    estimator : GaussianMixture
    X : array-like, dask array, DataFrame or xarray.DataArray
    max_points : int
    random_state : int or None

    Returns
    -------
    rows : ndarray of shape (n_points, n_features)
    labels : ndarray of shape (n_points,)
    """
    data = check_input(estimator, X, reset=False)
    rng = np.random.RandomState(random_state)
    indices = np.sort(draw_rows(rng, data.n_samples, min(max_points, data.n_samples)))
    (rows,) = _graph.compute(_graph.take_rows(data.array, indices))
    return rows, estimator.predict(rows)


def plot_ellipses(estimator, X=None, *, projection=(0, 1), n_std=2.0, max_points=2000,
                  random_state=0, ax=None):
    """Each component's Gaussian as an ellipse on a 2-D projection of the features.

    The ellipse of component ``k`` is the ``n_std`` contour of the
    projected Gaussian: centre ``P (mean_k - c)`` and covariance
    ``P Sigma_k P^T``. Its opacity grows with the component's weight.

    Parameters
    ----------
    estimator : GaussianMixture
        Fitted, with any covariance type.
    X : {array-like, dask.array.Array, DataFrame, xarray.DataArray}, default=None
        Data to scatter behind the ellipses, coloured by predicted
        component: at most ``max_points`` rows drawn at random (one gather).
    projection : tuple of two int, array-like of shape (2, n_features) or IncrementalPCA, default=(0, 1)
        Two feature indices, a projection matrix ``P``, or a fitted
        ``IncrementalPCA`` (its first two components, centred on its mean).
    n_std : float, default=2.0
        Standard deviations along each axis of the ellipse.
    max_points : int, default=2000
    random_state : int or None, default=0
        Seeds the rows drawn.
    ax : matplotlib.axes.Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_is_fitted(estimator)
    ax = _axes(ax)
    matrix, centre, labels = _projection(estimator, projection)
    if X is not None:
        rows, predicted = _sample_rows(estimator, X, max_points, random_state)
        points = (rows - centre) @ matrix.T
        ax.scatter(points[:, 0], points[:, 1], s=4, alpha=0.5, linewidths=0,
                   c=[_colour(k) for k in predicted])
    n_components, n_features = estimator.means_.shape
    covariances = estimator._covariance.dense_covariances(estimator.covariances_,
                                                          n_components, n_features)
    means = (estimator.means_.astype(np.float64) - centre) @ matrix.T
    weights = estimator.weights_.astype(np.float64)
    for k in range(n_components):
        alpha = 0.15 + 0.5 * weights[k] / weights.max()
        _ellipse(ax, means[k], matrix @ covariances[k] @ matrix.T, n_std, _colour(k), alpha)
        ax.plot(*means[k], marker="x", color="black", markersize=6)
        ax.annotate(str(k), means[k], textcoords="offset points", xytext=(5, 5))
    ax.autoscale_view()
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(f"{n_components} components ({estimator.covariance_type}), "
                 f"{n_std:g} standard deviations")
    return ax


def _chunk_resp_histogram(proba, sample_weight, row_start, n_bins):
    """Histogram of the largest responsibility of each row, per predicted component.

    A ``reduce_blocks`` kernel; pure NumPy.

    Parameters
    ----------
    proba : ndarray or sparse.COO of shape (n_rows, n_components)
        Responsibilities of a chunk of rows (sparse ones, of truncated
        inference, are densified here, a chunk at a time).
    sample_weight : None
        Unused (rows count once).
    row_start : int
        Unused.
    n_bins : int
        Equal bins over [0, 1].

    Returns
    -------
    ndarray of shape (n_components * n_bins,), float64
        Counts, component-major.
    """
    if hasattr(proba, "todense"):
        proba = proba.todense()
    n_components = proba.shape[1]
    labels = np.argmax(proba, axis=1)
    largest = proba[np.arange(len(proba)), labels]
    bins = np.minimum((largest * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(labels * n_bins + bins, minlength=n_components * n_bins)
    return counts.astype(np.float64)


def plot_responsibilities(estimator, X, *, bins=20, log=False, ax=None):
    """How sure the model is of each row's component: a histogram of the largest responsibility.

    Rows near 1 belong clearly to one component; rows spread towards
    ``1 / n_components`` sit between components. The bars are stacked by
    predicted component. One pass over ``X``, which is never loaded: each
    chunk counts its rows in the bins and a tree reduction sums the counts.

    Parameters
    ----------
    estimator : GaussianMixture
        Fitted.
    X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
    bins : int, default=20
        Equal bins over [0, 1].
    log : bool, default=False
        A logarithmic count axis, to see the few uncertain rows next to the
        many certain ones.
    ax : matplotlib.axes.Axes, default=None

    Returns
    -------
    matplotlib.axes.Axes
    """
    check_is_fitted(estimator)
    if int(bins) < 1:
        raise ValueError(f"bins must be at least 1, got {bins}.")
    bins = int(bins)
    data = check_input(estimator, X, reset=False)
    proba = estimator.predict_proba(data.array)
    n_components = proba.shape[1]
    (counts,) = _graph.compute(_graph.reduce_blocks(
        proba, None, _chunk_resp_histogram, size=n_components * bins,
        name="plot-responsibilities", n_bins=bins,
    ))
    counts = counts.reshape(n_components, bins)
    ax = _axes(ax)
    edges = np.linspace(0.0, 1.0, bins + 1)
    bottom = np.zeros(bins)
    for k in range(n_components):
        ax.bar(edges[:-1], counts[k], width=1.0 / bins, bottom=bottom, align="edge",
               color=_colour(k), label=f"component {k}", edgecolor="white", linewidth=0.5)
        bottom += counts[k]
    ax.axvline(1.0 / n_components, color="grey", linestyle=":", linewidth=1,
               label="1 / n_components")
    if log:
        ax.set_yscale("log")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("largest responsibility (probability of the predicted component)")
    ax.set_ylabel("rows")
    ax.set_title(f"Responsibilities of {data.n_samples:,} rows")
    ax.legend(fontsize="small", title="predicted")
    return ax
