"""Model selection: a grid of Gaussian mixtures fitted together, picked by BIC or AIC.

Every candidate (one per ``n_components`` x ``covariance_type``, and per
initialisation when ``n_init > 1``) runs exact EM, and all of them advance
in lockstep: each iteration builds every active candidate's statistics and
computes them in **one** ``dask.compute``, so dask reads each chunk of the
data once per iteration for all candidates, instead of once per candidate.
A candidate that has converged drops out of the next passes. One last
shared pass scores every fitted candidate on the data.
"""

from __future__ import annotations

import warnings
from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from daskmix._dask import graph as _graph
from daskmix._progress import FitProgress
from daskmix._validation import InputData, check_input, check_sample_weight
from daskmix.mixture._gaussian_mixture import GaussianMixture, information_criteria
from daskmix.mixture.algorithms import get_algorithm
from daskmix.mixture.algorithms.em import EMRun
from daskmix.mixture.algorithms.exact_pass import ExactPass
from daskmix.mixture.covariance import COVARIANCE_TYPES

__all__ = ["select_model"]

#: What ``fit`` records about the training data's features, copied from the
#: first candidate (which validated the data) to the others.
_FEATURE_ATTRIBUTES = ("n_features_in_", "feature_names_in_", "_xarray_features")

#: The score table's columns, in order.
COLUMNS = ["n_components", "covariance_type", "bic", "aic", "lower_bound", "n_iter",
           "converged", "n_parameters", "selected"]


def _as_list(value, name, kind):
    """A non-empty list of distinct values from a scalar or an iterable.

    Parameters
    ----------
    value : object
    name : str
    kind : {"int", "str"}

    Returns
    -------
    list
    """
    if isinstance(value, (str, Integral)):
        value = [value]
    values = list(value)
    if not values or len(set(values)) != len(values):
        raise ValueError(f"{name} must list distinct values, got {values!r}.")
    for v in values:
        if kind == "int" and (isinstance(v, bool) or not isinstance(v, Integral) or v < 1):
            raise ValueError(f"{name} must hold integers >= 1, got {v!r}.")
        if kind == "str" and v not in COVARIANCE_TYPES:
            raise ValueError(
                f"{name} must hold covariance types among {sorted(COVARIANCE_TYPES)}, "
                f"got {v!r}."
            )
    return values


def _candidates(n_components, covariance_type, params):
    """The unfitted candidates of the grid, parameters validated.

    Parameters
    ----------
    n_components : list of int
    covariance_type : list of str
    params : dict
        The other ``GaussianMixture`` parameters.

    Returns
    -------
    list of GaussianMixture
    """
    algorithm = get_algorithm(params.get("algorithm", "em"))
    if not algorithm.lockstep:
        raise ValueError(
            "select_model runs exact EM (algorithm='em') for every candidate, in "
            f"lockstep; got algorithm={algorithm.name!r}. Drop the algorithm "
            "parameter, or fit the candidates one by one."
        )
    candidates = [
        GaussianMixture(k, covariance_type=c, **params)
        for k in n_components for c in covariance_type
    ]
    for candidate in candidates:
        candidate._validate_params()
    return candidates


def _initial_runs(candidates, data, sample_weight):
    """Initialise every candidate ``n_init`` times; one EM run per initialisation.

    Each candidate draws its initialisations from its own
    ``check_random_state(random_state)``, in the order ``fit`` would.

    Parameters
    ----------
    candidates : list of GaussianMixture
    data : InputData
    sample_weight : dask.array.Array or None

    Returns
    -------
    list of (int, EMRun, ExactPass)
        The candidate's index, its run and its pass.
    """
    n_features = data.array.shape[1]
    runs = []
    for index, candidate in enumerate(candidates):
        init_values = candidate._check_parameters(n_features)
        random_state = check_random_state(candidate.random_state)
        passer = ExactPass.from_settings(candidate._fit_settings(), n_features, data.dtype)
        for _ in range(candidate.n_init):
            params = candidate._initialize_parameters(data, sample_weight, random_state,
                                                      init_values)
            run = EMRun(params, lower_bound=-np.inf, max_iter=candidate.max_iter,
                        tol=candidate.tol)
            runs.append((index, run, passer))
    return runs


def _run_lockstep(runs, data, sample_weight, bar):
    """Advance every run until all are done, one shared compute per iteration.

    Parameters
    ----------
    runs : list of (int, EMRun, ExactPass)
    data : InputData
    sample_weight : dask.array.Array or None
    bar : FitProgress
    """
    active = [(run, passer) for _, run, passer in runs if not run.done]
    iteration = 0
    while active:
        pending = [
            passer.statistics(data.array, sample_weight, run.result.params, run.first)
            for run, passer in active
        ]
        vectors = _graph.compute(*(stats for stats, _ in pending))
        for (run, passer), vector, (_, kernel_params) in zip(active, vectors, pending):
            run.advance(passer.unpack(vector, kernel_params), passer.m_step)
        iteration += 1
        bar.update(iteration, max(run.result.lower_bound for run, _ in active))
        active = [(run, passer) for run, passer in active if not run.done]


def _publish(candidates, runs, data):
    """Set each candidate's fitted attributes from its best run, as ``fit`` does.

    Parameters
    ----------
    candidates : list of GaussianMixture
    runs : list of (int, EMRun, ExactPass)
    data : InputData
    """
    best = {}
    for index, run, _ in runs:
        if index not in best or run.result.lower_bound > best[index].lower_bound:
            best[index] = run.result
    for index, candidate in enumerate(candidates):
        result = best[index]
        candidate._set_fitted(result.params, data.dtype)
        candidate.converged_ = bool(result.converged)
        candidate.n_iter_ = int(result.n_iter)
        candidate.lower_bound_ = float(result.lower_bound)
        candidate.lower_bounds_ = list(result.lower_bounds)
        candidate._finish_fit(result)


def _score_table(candidates, data, criterion):
    """One shared pass scoring every fitted candidate; the table of scores.

    Parameters
    ----------
    candidates : list of GaussianMixture
        Fitted.
    data : InputData
    criterion : {"bic", "aic"}

    Returns
    -------
    pandas.DataFrame
    """
    lazy = InputData(array=data.array, kind="dask")
    means = [candidate._row_outputs(lazy, "score_samples").mean() for candidate in candidates]
    scores = _graph.compute(*means)
    rows = []
    for candidate, mean_score in zip(candidates, scores):
        n_parameters = candidate._n_parameters()
        bic, aic = information_criteria(float(mean_score), data.n_samples, n_parameters)
        rows.append({
            "n_components": candidate.n_components,
            "covariance_type": candidate.covariance_type,
            "bic": bic, "aic": aic,
            "lower_bound": candidate.lower_bound_,
            "n_iter": candidate.n_iter_,
            "converged": candidate.converged_,
            "n_parameters": n_parameters,
        })
    table = pd.DataFrame(rows, columns=COLUMNS[:-1])
    table["selected"] = False
    table.loc[int(np.argmin(table[criterion].to_numpy())), "selected"] = True
    table.attrs["criterion"] = criterion
    return table


def select_model(X, n_components=range(1, 9), covariance_type="full", *, criterion="bic",
                 sample_weight=None, **params):
    """Fit Gaussian mixtures over a grid and pick the best by BIC (or AIC).

    Every pair of ``n_components`` and ``covariance_type`` is a candidate
    ``GaussianMixture``. All candidates run exact EM together: each
    iteration computes the statistics of every candidate still running in
    one ``dask.compute``, so each chunk of ``X`` is read once per iteration
    for the whole grid, not once per candidate.

    Parameters
    ----------
    X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        The data. Dask input is never loaded into the client.
    n_components : int or iterable of int, default=range(1, 9)
        The numbers of components to try.
    covariance_type : str or iterable of str, default="full"
        The covariance types to try, among ``"full"``, ``"tied"``,
        ``"diag"``, ``"spherical"`` and ``"factor"`` (which needs
        ``n_factors`` among ``params``, the same for every candidate).
    criterion : {"bic", "aic"}, default="bic"
        Lower is better; ties go to the candidate listed first (fewer
        components first, in the order given).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the rows in the fits. The criteria are computed as
        :meth:`GaussianMixture.bic` computes them, on the unweighted rows.
    **params
        Other ``GaussianMixture`` parameters, the same for every candidate
        (``tol``, ``max_iter``, ``reg_covar``, ``n_init``, ``init_params``,
        ``random_state``, ``split_every``, ``progress``, ...).
        ``algorithm`` must be ``"em"``.

    Returns
    -------
    best : GaussianMixture
        The fitted candidate with the lowest criterion.
    scores : pandas.DataFrame
        One row per candidate, in grid order (``n_components`` outer,
        ``covariance_type`` inner): ``n_components``, ``covariance_type``,
        ``bic``, ``aic``, ``lower_bound``, ``n_iter``, ``converged``,
        ``n_parameters`` and ``selected`` (True for ``best``).
        ``scores.attrs["criterion"]`` names the criterion used.

    See Also
    --------
    GaussianMixture.bic, GaussianMixture.aic

    Notes
    -----
    Each candidate is initialised as ``GaussianMixture.fit`` initialises it
    (with ``init_params="kmeans"``, a row sample and one pass per candidate
    and initialisation; ``"k-means++"`` costs one row sample), so a candidate
    ends exactly where fitting it alone ends. Then the EM iterations cost
    one pass and one ``dask.compute`` per iteration of the slowest
    candidate, and the scores one more pass. Persist ``X`` first if it is
    expensive to produce. Memory per worker: one chunk plus every
    candidate's statistics.

    Examples
    --------
    >>> import numpy as np
    >>> from daskmix.mixture import select_model
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-5, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> best, scores = select_model(X, n_components=[1, 2, 3],
    ...                             covariance_type=["full", "diag"], random_state=0)
    >>> best.n_components
    2
    >>> scores[["n_components", "covariance_type", "selected"]].shape
    (6, 3)
    """
    if criterion not in ("bic", "aic"):
        raise ValueError(f"criterion must be 'bic' or 'aic', got {criterion!r}.")
    candidates = _candidates(
        _as_list(n_components, "n_components", "int"),
        _as_list(covariance_type, "covariance_type", "str"),
        params,
    )
    first = candidates[0]
    data = check_input(first, X, reset=True, min_samples=2)
    for candidate in candidates[1:]:
        for name in _FEATURE_ATTRIBUTES:
            if hasattr(first, name):
                setattr(candidate, name, getattr(first, name))
    largest = max(candidate.n_components for candidate in candidates)
    if data.n_samples < largest:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = {largest}, "
            f"n_samples = {data.n_samples}. Try fewer components."
        )
    weights = check_sample_weight(sample_weight, data)
    max_iter = max(candidate.max_iter for candidate in candidates)
    with FitProgress(first.progress, max_iter, data.n_samples,
                     f"select_model ({len(candidates)} candidates)",
                     units=get_algorithm(first.algorithm).iteration_units) as bar:
        bar.phase("initialising")
        runs = _initial_runs(candidates, data, weights)
        bar.start_iterations()
        _run_lockstep(runs, data, weights, bar)
    _publish(candidates, runs, data)
    late = [f"{c.n_components} {c.covariance_type}" for c in candidates if not c.converged_]
    if late and max_iter > 0:
        warnings.warn(
            f"{len(late)} candidate(s) did not converge ({', '.join(late)}). Increase "
            "max_iter or tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=2,
        )
    table = _score_table(candidates, data, criterion)
    return candidates[int(np.flatnonzero(table["selected"].to_numpy())[0])], table
