"""Stepwise (mini-batch) EM: ``algorithm="minibatch"``, and the updates of ``partial_fit``.

The policy (step sizes, warm-up, interpolation, early stopping) is in
``stepwise.py`` and knows nothing of Dask or of estimators. This module
connects it to a fit's settings: it turns the parameters the algorithm reads
into a :class:`~daskmix.mixture.algorithms.stepwise.StepSchedule` and a batch plan,
computes one batch's statistics per ``dask.compute`` (through
``_graph.reduce_row_range``, so only the rows of the batch are read),
initialises on a few batches rather than the whole data, and reads and
writes checkpoints.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np

from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix.mixture._init import sample_size
from daskmix.mixture._params import GaussianParams, estep_params, params_from_stats
from daskmix.mixture.algorithms._base import Algorithm
from daskmix.mixture.algorithms.checkpoint import (
    check_compatible,
    load_checkpoint,
    save_checkpoint,
)
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
    "STEPWISE_PARAMETERS",
    "MiniBatchEM",
    "Resume",
    "batch_rows",
    "checkpoint_settings",
    "init_subset",
    "load_resume",
    "partial_fit_updates",
    "run_minibatch",
    "state_attributes",
    "steps_per_epoch",
    "update_ranges",
]

#: Default rows per update: each update is one ``dask.compute``, whose few
#: milliseconds of scheduling stay small next to the E-step of this many rows.
DEFAULT_BATCH_ROWS = 2**15

#: The estimator parameters every stepwise update reads: those of
#: ``partial_fit``, whatever the ``algorithm``.
STEPWISE_PARAMETERS = frozenset({"batch_size", "step_decay", "step_offset", "warmup_size"})


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


def batch_rows(settings, n_samples=None):
    """Rows per update: ``batch_size``, or ``max(DEFAULT_BATCH_ROWS, 10 K)``.

    Parameters
    ----------
    settings : FitSettings
        With the :data:`STEPWISE_PARAMETERS` among its options.
    n_samples : int or None
        Caps the result (a batch never exceeds the data).

    Returns
    -------
    int
    """
    rows = settings.options["batch_size"] or max(DEFAULT_BATCH_ROWS,
                                                 10 * settings.n_components)
    return int(rows if n_samples is None else min(rows, n_samples))


def steps_per_epoch(settings, n_samples):
    """Updates in one pass over ``n_samples`` rows.

    Parameters
    ----------
    settings : FitSettings
    n_samples : int

    Returns
    -------
    int
    """
    return -(-int(n_samples) // batch_rows(settings, n_samples))


def _schedule(settings, n_features, n_samples=None):
    """The ``StepSchedule`` of a fit's settings.

    Parameters
    ----------
    settings : FitSettings
    n_features : int
    n_samples : int or None
        The data's rows in ``fit``, which caps the warm-up at one pass;
        None in ``partial_fit``.

    Returns
    -------
    StepSchedule
    """
    options = settings.options
    if options["warmup_size"] == "auto":
        warmup = default_warmup_rows(settings.n_components, n_features)
    else:
        warmup = int(options["warmup_size"])
    if n_samples is not None:
        warmup = min(warmup, int(n_samples))
    offset = None if options["step_offset"] == "auto" else float(options["step_offset"])
    return StepSchedule(float(options["step_decay"]), offset, warmup)


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
    covariance : object
        Covariance strategy.
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
    covariance : object
        Covariance strategy.
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


def _check_state(settings, state, n_features):
    """Raise if ``state`` was built for another number of components or covariance type.

    Parameters
    ----------
    settings : FitSettings
    state : StepwiseState
    n_features : int

    Raises
    ------
    ValueError
        Naming the remedy.
    """
    expected = settings.covariance.parameter_shape(settings.n_components, n_features)
    if (state.params.means.shape != (settings.n_components, n_features)
            or state.params.covariances.shape != tuple(expected)):
        raise ValueError(
            "n_components or covariance_type changed since this mixture was last "
            f"fitted (its means have shape {state.params.means.shape} and its "
            f"covariances {state.params.covariances.shape}). Call fit with "
            "warm_start=False, or use a new estimator."
        )


def checkpoint_settings(settings, data, sample_weight):
    """What a checkpoint must agree on with the fit resuming it.

    Parameters
    ----------
    settings : FitSettings
    data : InputData
    sample_weight : dask.array.Array or None

    Returns
    -------
    dict
        JSON-serialisable.
    """
    n_samples, n_features = (int(s) for s in data.array.shape)
    schedule = _schedule(settings, n_features, n_samples)
    max_no_improvement = settings.options["max_no_improvement"]
    return {
        "n_components": int(settings.n_components),
        "covariance_type": str(settings.covariance.name),
        "reg_covar": float(settings.reg_covar),
        "tol": float(settings.tol),
        "max_no_improvement": None if max_no_improvement is None else int(max_no_improvement),
        "batch_rows": batch_rows(settings, n_samples),
        "step_decay": schedule.decay,
        "step_offset": schedule.offset,
        "warmup_rows": schedule.warmup_rows,
        "n_samples": n_samples,
        "n_features": n_features,
        "dtype": str(data.dtype),
        "sample_weight": sample_weight is not None,
    }


def load_resume(settings, data, sample_weight, params_type=GaussianParams, extra=None):
    """The checkpointed fit to continue, or None when there is none.

    Parameters
    ----------
    settings : FitSettings
    data : InputData
    sample_weight : dask.array.Array or None
    params_type : type, default=GaussianParams
        The parameters' dataclass of the fit (see :func:`load_checkpoint`).
    extra : dict or None, default=None
        Further settings the checkpoint must agree on (an estimator's own).

    Returns
    -------
    Resume or None

    Raises
    ------
    ValueError
        If the checkpoint was written with other settings.
    """
    path = settings.options["checkpoint_path"]
    if path is None:
        return None
    loaded = load_checkpoint(path, params_type)
    if loaded is None:
        return None
    state, cursor, plan, saved = loaded
    check_compatible(saved, {**checkpoint_settings(settings, data, sample_weight),
                             **(extra or {})}, path)
    return Resume(state, cursor, plan)


def run_minibatch(settings, data, sample_weight, start, on_iteration, random_state,
                  state=None):
    """One initialisation's stepwise fit (``algorithm="minibatch"``).

    Parameters
    ----------
    settings : FitSettings
        With :attr:`MiniBatchEM.parameters` among its options.
    data : InputData
    sample_weight : dask.array.Array or None
    start : GaussianParams or Resume
        Initial (or warm-start) parameters, or a checkpointed fit.
    on_iteration : callable
        ``on_iteration(n_updates, ewa, change)``, after every update.
    random_state : numpy.random.RandomState
        Draws the seed of the batch order.
    state : StepwiseState or None
        Running statistics to continue from (a warm start after a stepwise
        fit); None starts them from ``start``.

    Returns
    -------
    StepwiseResult
    """
    n_samples, n_features = data.array.shape
    options = settings.options
    covariance = settings.covariance
    if isinstance(start, Resume):
        state, cursor, plan = start.state, start.cursor, start.plan
    else:
        rows = batch_rows(settings, n_samples)
        if state is None:
            state = initial_state(start, data.dtype, nominal_rows=rows)
        _check_state(settings, state, n_features)
        plan = BatchPlan(n_samples, rows, int(random_state.randint(np.iinfo(np.int32).max)))
        cursor = Cursor(0, 0, EarlyStopping(settings.tol, options["max_no_improvement"]))
    return run_stepwise(
        _BatchStatistics(data.array, sample_weight, covariance,
                         settings.layout(n_features), settings.split_every),
        state, plan, cursor,
        schedule=_schedule(settings, n_features, n_samples),
        m_step=_m_step(covariance, settings.reg_covar, data.dtype),
        max_epochs=settings.max_iter, on_step=on_iteration,
        checkpoint=checkpoint_writer(settings, data, sample_weight, plan),
        checkpoint_every=options["checkpoint_every"],
    )


def checkpoint_writer(settings, data, sample_weight, plan, extra=None):
    """The ``checkpoint(state, cursor)`` callback of a stepwise fit, or None without a path.

    Parameters
    ----------
    settings : FitSettings
        With ``checkpoint_path`` among its options.
    data : InputData
    sample_weight : dask.array.Array or None
    plan : BatchPlan
    extra : dict or None, default=None
        Further settings stored for :func:`load_resume` to compare.

    Returns
    -------
    callable or None
    """
    path = settings.options["checkpoint_path"]
    if path is None:
        return None
    saved = {**checkpoint_settings(settings, data, sample_weight), **(extra or {})}

    def checkpoint(state, cursor):
        save_checkpoint(path, state, cursor, plan, saved)

    return checkpoint


def check_checkpoint_path(estimator):
    """Raise if ``estimator.checkpoint_path`` cannot be written or would hold several fits.

    Parameters
    ----------
    estimator : BaseMixture
        With ``checkpoint_path`` and ``n_init``.

    Raises
    ------
    ValueError
        Naming the parameter to change.
    """
    if estimator.checkpoint_path is None:
        return
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


def update_ranges(X, data):
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
    if not _graph.is_dask_collection(X):
        return [(0, data.n_samples)]
    bounds = np.cumsum((0,) + data.array.chunks[0])
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def partial_fit_updates(settings, state, data, sample_weight, ranges):
    """The stepwise updates of one ``partial_fit``, one per row range, in order.

    Parameters
    ----------
    settings : FitSettings
        With the :data:`STEPWISE_PARAMETERS` among its options.
    state : StepwiseState
        The running statistics before the updates.
    data : InputData
    sample_weight : dask.array.Array or None
    ranges : list of (int, int)
        ``(start, stop)`` of each update (see :func:`update_ranges`).

    Returns
    -------
    state : StepwiseState
        After the updates.
    lower_bound : float
        Mean log-likelihood of the rows, each taken before its update
        (``-inf`` if they weigh nothing).
    """
    n_features = data.array.shape[1]
    _check_state(settings, state, n_features)
    batch_fn = _BatchStatistics(data.array, sample_weight, settings.covariance,
                                settings.layout(n_features), settings.split_every)
    schedule = _schedule(settings, n_features)
    m_step = _m_step(settings.covariance, settings.reg_covar, data.dtype)
    for start, stop in ranges:
        state, _ = stepwise_update(state, batch_fn(state, start, stop), stop - start,
                                   schedule, m_step)
    lower_bound = batch_fn.loglik / batch_fn.weight if batch_fn.weight > 0 else -np.inf
    return state, float(lower_bound)


def state_attributes(state):
    """What a fitted model publishes of stepwise EM's running statistics.

    Parameters
    ----------
    state : StepwiseState

    Returns
    -------
    dict
        ``_stepwise_state`` (kept for later updates), ``n_steps_`` and
        ``n_samples_seen_``.
    """
    return {"_stepwise_state": state, "n_steps_": int(state.n_steps),
            "n_samples_seen_": int(state.rows_seen)}


class MiniBatchEM(Algorithm):
    """Stepwise (online) EM: one update per batch of ``batch_size`` rows.

    Initialises on a few batches, not the whole data; counts updates in its
    progress bar and passes in ``n_iter_``; checkpoints and resumes its
    fit; publishes its running statistics so that a warm start or a
    ``partial_fit`` continues them. Its statistics are carried between
    parameters about a fixed shift, which ``"factor"``'s are not.
    """

    name = "minibatch"
    covariance_types = frozenset({"full", "tied", "diag", "spherical"})
    parameters = STEPWISE_PARAMETERS | {"max_no_improvement", "checkpoint_path",
                                        "checkpoint_every"}
    iteration_unit = "pass"
    iteration_units = "passes"
    fitted_attribute_names = ("_stepwise_state", "n_steps_", "n_samples_seen_")

    def check(self, estimator, n_features):
        """Raise if a checkpoint cannot be written or would hold several initialisations.

        Parameters
        ----------
        estimator : GaussianMixture
        n_features : int

        Raises
        ------
        ValueError
            Naming the parameter to change.
        """
        check_checkpoint_path(estimator)

    def initial_rows(self, settings, data, sample_weight, random_state):
        """A few whole batches (see :func:`init_subset`); see :meth:`Algorithm.initial_rows`.

        Returns
        -------
        X : dask.array.Array
        sample_weight : dask.array.Array or None
        """
        return init_subset(data, sample_weight, settings.n_components,
                           batch_rows(settings, data.n_samples), random_state)

    def resume(self, settings, data, sample_weight):
        """The checkpointed fit, and its smoothed lower bound; see :meth:`Algorithm.resume`.

        Returns
        -------
        tuple or None
        """
        resumed = load_resume(settings, data, sample_weight)
        return None if resumed is None else (resumed, resumed.cursor.stopping.ewa)

    def progress_scale(self, settings, n_samples):
        """Passes of updates of ``batch_size`` rows; see :meth:`Algorithm.progress_scale`.

        Returns
        -------
        total, rows_per_step, steps_per_unit : int
            ``max_iter`` passes, the rows of one update, the updates in a pass.
        """
        return (settings.max_iter, batch_rows(settings, n_samples),
                steps_per_epoch(settings, n_samples))

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Stepwise updates until early stopping or ``max_iter`` passes.

        See :meth:`Algorithm.run`; on a warm start the running statistics
        in ``previous`` are continued.

        Returns
        -------
        StepwiseResult
        """
        state = (previous or {}).get("_stepwise_state")
        return run_minibatch(settings, data, sample_weight, params, on_iteration,
                             random_state, state)

    def fitted_attributes(self, result):
        """The running statistics and their counters (:func:`state_attributes`).

        Parameters
        ----------
        result : StepwiseResult

        Returns
        -------
        dict
        """
        return state_attributes(result.state)
