"""What ``daskmix fit`` and ``daskmix info`` print about a fitted model."""

from __future__ import annotations

import numpy as np

from daskmix.mixture.algorithms import get_algorithm

__all__ = ["changed_params", "component_table", "model_lines"]

#: Columns of the component table that show feature values.
_MAX_FEATURES_SHOWN = 4


def changed_params(estimator):
    """The constructor parameters that differ from the class defaults.

    Parameters
    ----------
    estimator : BaseEstimator

    Returns
    -------
    str
        ``name=value`` pairs, comma separated.
    """
    defaults = type(estimator)().get_params(deep=False)
    pairs = []
    for name, value in sorted(estimator.get_params(deep=False).items()):
        default = defaults.get(name)
        if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
            same = np.array_equal(np.asarray(value), np.asarray(default))
            shown = f"array{np.shape(value)}"
        else:
            same = value == default
            shown = repr(value)
        if not same:
            pairs.append(f"{name}={shown}")
    return ", ".join(pairs) or "all defaults"


def _features(estimator):
    """The number of features, with their names if the model has them.

    Parameters
    ----------
    estimator : BaseEstimator

    Returns
    -------
    str
    """
    names = getattr(estimator, "feature_names_in_", None)
    n = estimator.n_features_in_
    if names is None:
        return str(n)
    shown = ", ".join(map(str, names[:8])) + (", ..." if n > 8 else "")
    return f"{n} ({shown})"


def model_lines(estimator):
    """``(label, value)`` pairs describing a fitted model.

    Parameters
    ----------
    estimator : GaussianMixture, BayesianGaussianMixture, MiniBatchKMeans or IncrementalPCA

    Returns
    -------
    list of (str, object)
    """
    pairs = [("estimator", type(estimator).__name__),
             ("parameters", changed_params(estimator)),
             ("features", _features(estimator))]
    if hasattr(estimator, "weights_"):
        # the estimator's own registry (a Bayesian mixture's bound is not a likelihood)
        algorithm = getattr(estimator, "_algorithm", None) or get_algorithm("em")
        meaning = algorithm.lower_bound_name
        pairs += [("iterations", estimator.n_iter_), ("converged", estimator.converged_),
                  ("lower bound", f"{estimator.lower_bound_:.6f} ({meaning})")]
    elif hasattr(estimator, "cluster_centers_"):
        pairs += [("steps", estimator.n_steps_), ("inertia", f"{estimator.inertia_:.6g}")]
    elif hasattr(estimator, "components_"):
        pairs += [("components", estimator.n_components_),
                  ("rows seen", f"{estimator.n_samples_seen_:,}"),
                  ("explained variance", f"{estimator.explained_variance_ratio_.sum():.4f}")]
    return pairs


def _vector(values):
    """The first few values of a row, aligned.

    Parameters
    ----------
    values : ndarray of shape (n,)

    Returns
    -------
    str
    """
    shown = " ".join(f"{v:9.4g}" for v in values[:_MAX_FEATURES_SHOWN])
    return shown + (" ..." if len(values) > _MAX_FEATURES_SHOWN else "")


def component_table(estimator):
    """Per-component lines: weights and means, centres, or explained variance.

    Parameters
    ----------
    estimator : GaussianMixture, MiniBatchKMeans or IncrementalPCA

    Returns
    -------
    list of str
    """
    if hasattr(estimator, "weights_"):
        rows = ["  component    weight  mean"]
        # the means of a model held in a sharded store are read from it (O(K D))
        for k, (w, mean) in enumerate(zip(estimator.weights_, np.asarray(estimator.means_))):
            rows.append(f"  {k:>9}  {w:8.4f}  {_vector(mean)}")
    elif hasattr(estimator, "cluster_centers_"):
        rows = ["  cluster  centre"]
        for k, centre in enumerate(estimator.cluster_centers_):
            rows.append(f"  {k:>7}  {_vector(centre)}")
    else:
        rows = ["  component  variance ratio  axis"]
        for k, (ratio, axis) in enumerate(zip(estimator.explained_variance_ratio_,
                                              estimator.components_)):
            rows.append(f"  {k:>9}  {ratio:14.4f}  {_vector(axis)}")
    return rows
