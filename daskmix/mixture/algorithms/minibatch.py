"""GaussianMixture's mini-batch side: ``algorithm="minibatch"`` and ``partial_fit``.

The policy (step sizes, warm-up, interpolation, early stopping) is in
``_stepwise.py`` and knows nothing of Dask or of estimators. This module
connects it to a ``GaussianMixture``: it turns the estimator's parameters
into a :class:`~daskmix.mixture.algorithms.stepwise.StepSchedule` and a batch plan,
computes one batch's statistics per ``dask.compute`` (through
``_graph.reduce_row_range``, so only the rows of the batch are read),
initialises on a few batches rather than the whole data, and reads and
writes checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import dask
import numpy as np
from sklearn.utils import check_random_state

from daskmix._dask import graph as _graph
from daskmix._validation import check_input, check_sample_weight, raise_if_nonfinite
from daskmix.mixture.algorithms.checkpoint import check_compatible, load_checkpoint, save_checkpoint
from daskmix.mixture._init import sample_size
from daskmix.mixture._params import estep_params, params_from_stats
from daskmix.mixture.algorithms.stepwise import (
    STAT_NAMES,
    BatchPlan,
    Cursor,
    EarlyStopping,
    StepSchedule,
    default_warmup_rows,
    initial_state,
    run_stepwise,
    second_moment_about_shift,
    stepwise_update,
)
from daskmix.mixture.kernels.suffstats import chunk_em_stats

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "Resume",
    "batch_rows",
    "check_checkpoint_use",
    "checkpoint_settings",
    "forget_state",
    "init_subset",
    "load_resume",
    "partial_fit",
    "publish_state",
    "run_minibatch",
    "steps_per_epoch",
]

#: Default rows per update: each update is one ``dask.compute``, whose few
#: milliseconds of scheduling stay small next to the E-step of this many rows.
DEFAULT_BATCH_ROWS = 2**15


@dataclass(frozen=True)
class Resume:
    """A fit read back from a checkpoint, to continue.

    Attributes
    ----------
    state : StepwiseState
    cursor : Cursor
    plan : BatchPlan
    """

    state: object
    cursor: object
    plan: object


def batch_rows(estimator, n_samples=None):
    """Rows per update: ``batch_size``, or ``max(DEFAULT_BATCH_ROWS, 10 K)``.

    Parameters
    ----------
    estimator : GaussianMixture
    n_samples : int or None
        Caps the result (a batch never exceeds the data).

    Returns
    -------
    int
    """
    rows = estimator.batch_size or max(DEFAULT_BATCH_ROWS, 10 * estimator.n_components)
    return int(rows if n_samples is None else min(rows, n_samples))


def steps_per_epoch(estimator, n_samples):
    """Updates in one pass over ``n_samples`` rows.

    Parameters
    ----------
    estimator : GaussianMixture
    n_samples : int

    Returns
    -------
    int
    """
    return -(-int(n_samples) // batch_rows(estimator, n_samples))


def _schedule(estimator, n_features, n_samples=None):
    """The estimator's ``StepSchedule``.

    Parameters
    ----------
    estimator : GaussianMixture
    n_features : int
    n_samples : int or None
        The data's rows in ``fit``, which caps the warm-up at one pass;
        None in ``partial_fit``.

    Returns
    -------
    StepSchedule
    """
    if estimator.warmup_size == "auto":
        warmup = default_warmup_rows(estimator.n_components, n_features)
    else:
        warmup = int(estimator.warmup_size)
    if n_samples is not None:
        warmup = min(warmup, int(n_samples))
    offset = None if estimator.step_offset == "auto" else float(estimator.step_offset)
    return StepSchedule(float(estimator.step_decay), offset, warmup)


def init_subset(data, sample_weight, n_components, rows_per_batch, random_state):
    """The rows an initialisation sees: a few whole batches, not the whole data.

    ``max(3 * batch rows, sample_size(n_samples, n_components))`` rows
    (scikit-learn's ``MiniBatchKMeans`` initialises on ``3 * batch_size``
    rows), made of whole batch ranges drawn at random, so they are read as
    contiguous slices. Data that small is used whole.

    Parameters
    ----------
    data : InputData
    sample_weight : dask.array.Array or None
    n_components, rows_per_batch : int
    random_state : numpy.random.RandomState

    Returns
    -------
    X : dask.array.Array
    sample_weight : dask.array.Array or None
    """
    n_samples = data.n_samples
    wanted = max(3 * rows_per_batch, sample_size(n_samples, n_components))
    if wanted >= n_samples:
        return data.array, sample_weight
    n_batches = -(-n_samples // rows_per_batch)
    picks = np.sort(random_state.choice(n_batches, -(-wanted // rows_per_batch), replace=False))
    ranges = [(i * rows_per_batch, min((i + 1) * rows_per_batch, n_samples)) for i in picks]
    weights = None if sample_weight is None else _graph.row_ranges(sample_weight, ranges)
    return _graph.row_ranges(data.array, ranges), weights


class _BatchStatistics:
    """Summed statistics of a row range at a state's parameters: one compute.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    sample_weight : dask.array.Array or None
    covariance : type
    layout : StatsLayout
    split_every : int or None
    """

    def __init__(self, X, sample_weight, covariance, layout, split_every):
        self.X = X
        self.sample_weight = sample_weight
        self.covariance = covariance
        self.layout = layout
        self.split_every = split_every
        self.loglik = 0.0
        self.weight = 0.0

    def __call__(self, state, start, stop):
        """Statistics of rows ``start:stop`` (second moment about ``state.shift``).

        Parameters
        ----------
        state : StepwiseState
        start, stop : int

        Returns
        -------
        dict
            ``nk``, ``sy``, ``s2``, ``loglik`` and ``weight``, summed.
        """
        params = estep_params(self.covariance, state.params, self.X.dtype, shift=state.shift)
        stats = _graph.reduce_row_range(
            self.X, self.sample_weight, start, stop, chunk_em_stats, size=self.layout.size,
            name="gmm-stepwise-estep", split_every=self.split_every,
            params=params, layout=self.layout, check_finite=True,
        )
        (vector,) = _graph.compute(stats)
        batch = self.layout.unpack(vector)
        raise_if_nonfinite(batch["nonfinite"])
        batch["s2"] = second_moment_about_shift(
            self.covariance, batch, params.centres.astype(np.float64)
        )
        self.loglik += float(batch["loglik"])
        self.weight += float(batch["weight"])
        return batch


def _m_step(covariance, reg_covar, dtype):
    """The M-step on per-sample statistics, as ``stepwise_update`` calls it.

    The statistics are scaled to sums over ``scale`` rows, so that
    ``params_from_stats``'s ``10 * eps`` guard on the counts has the size it
    has in exact EM. Their second moments are about the shift, hence zero
    old centres.

    Parameters
    ----------
    covariance : type
        Covariance strategy class.
    reg_covar : float
    dtype : numpy dtype
        The data's dtype.

    Returns
    -------
    callable
        ``m_step(stats, shift, scale) -> GaussianParams``.
    """

    def m_step(stats, shift, scale):
        summed = {name: stats[name] * scale for name in STAT_NAMES}
        summed["weight"] = float(scale)
        centres = np.zeros_like(stats["sy"])
        return params_from_stats(covariance, summed, shift, centres, reg_covar, dtype,
                                 normalize_weights=True)

    return m_step


def _check_state(estimator, state, n_features):
    """Raise if ``state`` was built for another number of components or covariance type.

    Parameters
    ----------
    estimator : GaussianMixture
    state : StepwiseState
    n_features : int

    Raises
    ------
    ValueError
        Naming the remedy.
    """
    expected = estimator._covariance.parameter_shape(estimator.n_components, n_features)
    if (state.params.means.shape != (estimator.n_components, n_features)
            or state.params.covariances.shape != tuple(expected)):
        raise ValueError(
            "n_components or covariance_type changed since this mixture was last "
            f"fitted (its means have shape {state.params.means.shape} and its "
            f"covariances {state.params.covariances.shape}). Call fit with "
            "warm_start=False, or use a new estimator."
        )


def checkpoint_settings(estimator, data, sample_weight):
    """What a checkpoint must agree on with the fit resuming it.

    Parameters
    ----------
    estimator : GaussianMixture
    data : InputData
    sample_weight : dask.array.Array or None

    Returns
    -------
    dict
        JSON-serialisable.
    """
    n_samples, n_features = (int(s) for s in data.array.shape)
    schedule = _schedule(estimator, n_features, n_samples)
    return {
        "n_components": int(estimator.n_components),
        "covariance_type": str(estimator.covariance_type),
        "reg_covar": float(estimator.reg_covar),
        "tol": float(estimator.tol),
        "max_no_improvement": (None if estimator.max_no_improvement is None
                               else int(estimator.max_no_improvement)),
        "batch_rows": batch_rows(estimator, n_samples),
        "step_decay": schedule.decay,
        "step_offset": schedule.offset,
        "warmup_rows": schedule.warmup_rows,
        "n_samples": n_samples,
        "n_features": n_features,
        "dtype": str(data.dtype),
        "sample_weight": sample_weight is not None,
    }


def load_resume(estimator, data, sample_weight):
    """The checkpointed fit to continue, or None when there is none.

    Parameters
    ----------
    estimator : GaussianMixture
    data : InputData
    sample_weight : dask.array.Array or None

    Returns
    -------
    Resume or None

    Raises
    ------
    ValueError
        If the checkpoint was written with other settings.
    """
    if estimator.checkpoint_path is None:
        return None
    loaded = load_checkpoint(estimator.checkpoint_path)
    if loaded is None:
        return None
    state, cursor, plan, settings = loaded
    check_compatible(settings, checkpoint_settings(estimator, data, sample_weight),
                     estimator.checkpoint_path)
    return Resume(state, cursor, plan)


def run_minibatch(estimator, data, sample_weight, start, on_iteration, random_state, warm):
    """One initialisation's stepwise fit (``algorithm="minibatch"``).

    Parameters
    ----------
    estimator : GaussianMixture
    data : InputData
    sample_weight : dask.array.Array or None
    start : GaussianParams or Resume
        Initial (or warm-start) parameters, or a checkpointed fit.
    on_iteration : callable
        ``on_iteration(n_updates, ewa, change)``, after every update.
    random_state : numpy.random.RandomState
        Draws the seed of the batch order.
    warm : bool
        Continue from the estimator's running statistics, when it has any.

    Returns
    -------
    StepwiseResult
    """
    n_samples, n_features = data.array.shape
    covariance = estimator._covariance
    if isinstance(start, Resume):
        state, cursor, plan = start.state, start.cursor, start.plan
    else:
        rows = batch_rows(estimator, n_samples)
        state = getattr(estimator, "_stepwise_state", None) if warm else None
        if state is None:
            state = initial_state(start, data.dtype, nominal_rows=rows)
        _check_state(estimator, state, n_features)
        plan = BatchPlan(n_samples, rows, int(random_state.randint(np.iinfo(np.int32).max)))
        cursor = Cursor(0, 0, EarlyStopping(estimator.tol, estimator.max_no_improvement))
    checkpoint = None
    if estimator.checkpoint_path is not None:
        settings = checkpoint_settings(estimator, data, sample_weight)
        path = estimator.checkpoint_path

        def checkpoint(state, cursor):
            save_checkpoint(path, state, cursor, plan, settings)

    return run_stepwise(
        _BatchStatistics(data.array, sample_weight, covariance,
                         estimator._layout(n_features), estimator.split_every),
        state, plan, cursor,
        schedule=_schedule(estimator, n_features, n_samples),
        m_step=_m_step(covariance, estimator.reg_covar, data.dtype),
        max_epochs=estimator.max_iter, on_step=on_iteration,
        checkpoint=checkpoint, checkpoint_every=estimator.checkpoint_every,
    )


def _update_ranges(X, data):
    """Row ranges of one ``partial_fit``: all rows for in-memory input, else each chunk.

    Parameters
    ----------
    X : object
        The input as the caller gave it (a dask collection or not).
    data : InputData
        Its validated form.

    Returns
    -------
    list of (int, int)
        ``(start, stop)`` of each update, empty chunks left out.
    """
    if not dask.is_dask_collection(X):
        return [(0, data.n_samples)]
    bounds = np.cumsum((0,) + data.array.chunks[0])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def partial_fit(estimator, X, sample_weight):
    """Stepwise updates with ``X``: one for in-memory input, one per chunk for dask.

    Sets the fitted attributes on ``estimator``; the caller restores it if
    this raises.

    Parameters
    ----------
    estimator : GaussianMixture
    X : array-like, dask array, DataFrame or xarray.DataArray
    sample_weight : array-like, dask array or None
    """
    state = getattr(estimator, "_stepwise_state", None)
    fitted = hasattr(estimator, "means_")
    data = check_input(estimator, X, reset=not fitted, min_samples=1)
    weights = check_sample_weight(sample_weight, data)
    n_features = data.array.shape[1]
    if state is None and fitted:
        params = estimator._fitted_parameters()
        state = initial_state(params, data.dtype, nominal_rows=estimator.batch_size or 0)
    elif state is None:
        if data.n_samples < estimator.n_components:
            raise ValueError(
                "The first partial_fit needs n_samples >= n_components to initialise "
                f"the mixture, but got n_components = {estimator.n_components}, "
                f"n_samples = {data.n_samples}. Pass a larger first batch."
            )
        init_values = estimator._check_parameters(n_features)
        rng = check_random_state(estimator.random_state)
        X_init, w_init = init_subset(data, weights, estimator.n_components,
                                     batch_rows(estimator), rng)
        params = estimator._initial_parameters_on(X_init, w_init, rng, init_values)
        state = initial_state(params, data.dtype, nominal_rows=estimator.batch_size or 0)
    _check_state(estimator, state, n_features)
    batch_fn = _BatchStatistics(data.array, weights, estimator._covariance,
                                estimator._layout(n_features), estimator.split_every)
    schedule = _schedule(estimator, n_features)
    m_step = _m_step(estimator._covariance, estimator.reg_covar, data.dtype)
    for start, stop in _update_ranges(X, data):
        state, _ = stepwise_update(state, batch_fn(state, start, stop), stop - start,
                                   schedule, m_step)
    estimator._set_fitted(state.params, data.dtype)
    lower_bound = batch_fn.loglik / batch_fn.weight if batch_fn.weight > 0 else -np.inf
    estimator.lower_bound_ = float(lower_bound)
    estimator.lower_bounds_ = list(getattr(estimator, "lower_bounds_", [])) + [lower_bound]
    estimator.n_iter_ = int(getattr(estimator, "n_iter_", 0)) + 1
    estimator.converged_ = False
    publish_state(estimator, state)


def publish_state(estimator, state):
    """Keep ``state`` for later updates and expose its counters.

    Parameters
    ----------
    estimator : GaussianMixture
    state : StepwiseState
    """
    estimator._stepwise_state = state
    estimator.n_steps_ = int(state.n_steps)
    estimator.n_samples_seen_ = int(state.rows_seen)


def forget_state(estimator):
    """Drop the running statistics and their counters (after an exact EM fit).

    Parameters
    ----------
    estimator : GaussianMixture
    """
    for name in ("_stepwise_state", "n_steps_", "n_samples_seen_"):
        estimator.__dict__.pop(name, None)


def check_checkpoint_use(estimator):
    """Raise if ``checkpoint_path`` is set where checkpoints are not supported.

    Parameters
    ----------
    estimator : GaussianMixture
    """
    if estimator.checkpoint_path is None:
        return
    if estimator.algorithm != "minibatch":
        raise ValueError(
            "checkpoint_path is supported with algorithm='minibatch' only, got "
            f"algorithm={estimator.algorithm!r}. Set algorithm='minibatch' or "
            "checkpoint_path=None."
        )
    if estimator.n_init != 1:
        raise ValueError(
            f"checkpoint_path needs n_init=1 (got n_init={estimator.n_init}): a "
            "checkpoint holds one initialisation's fit."
        )
    directory = os.path.dirname(os.path.abspath(os.fspath(estimator.checkpoint_path)))
    if not os.path.isdir(directory):
        raise ValueError(
            f"The directory of checkpoint_path ({directory}) does not exist; create it "
            "first."
        )
