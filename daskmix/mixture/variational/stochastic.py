"""Stochastic variational inference, ``BayesianGaussianMixture(algorithm="minibatch")``.

Hoffman, Blei, Wang and Paisley, "Stochastic Variational Inference" (JMLR
14, 2013). For a conjugate model the natural parameters of the global
posterior (the weights' concentrations, and the Normal-Wishart parameters
of each component) are linear in the expected sufficient statistics
``(nk, sum r x, sum r x x')``, so the natural-gradient step

    lambda_t = (1 - rho_t) lambda_{t-1} + rho_t (prior + N * s_batch / W_batch)

is stepwise EM's interpolation of per-sample statistics followed by batch
VI's update with the statistics scaled to the ``N`` rows of the data set.
This module therefore runs stepwise EM's loop
(:func:`~daskmix.mixture.algorithms.stepwise.run_stepwise`: the warm-up,
the steps ``rho_t = (t + t0) ** -step_decay``, the seeded batch order,
early stopping) with the variational E-step's statistics and batch VI's
update. A fit ends with one full pass and one batch-VI update, whose lower
bound is ``lower_bound_`` (the bound of a stochastic fit is otherwise only
an estimate).
"""

from __future__ import annotations

import numpy as np

from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix.mixture.algorithms._base import Algorithm
from daskmix.mixture.algorithms.minibatch import (
    Resume,
    _schedule,
    batch_rows,
    check_checkpoint_path,
    checkpoint_writer,
    init_subset,
    load_resume,
)
from daskmix.mixture.algorithms.stepwise import (
    STAT_NAMES,
    BatchPlan,
    Cursor,
    EarlyStopping,
    StepwiseState,
    run_stepwise,
    second_moment_about_shift,
    stepwise_update,
)
from daskmix.mixture.kernels.variational import chunk_vi_stats
from daskmix.mixture.variational.batch import VariationalPass
from daskmix.mixture.variational.model import VariationalParams
from daskmix.mixture.variational.wishart import WISHART_TYPES

__all__ = ["StochasticVI", "initial_vi_state", "stochastic_updates"]


def initial_vi_state(model, params, dtype, nominal_rows=0):
    """A fresh stepwise state at the posterior ``params``.

    Parameters
    ----------
    model : VariationalModel
    params : VariationalParams
    dtype : numpy dtype
    nominal_rows : int, default=0

    Returns
    -------
    StepwiseState
    """
    shift = (model.weights(params) @ params.means).astype(dtype).astype(np.float64)
    return StepwiseState(params=params, shift=shift, nominal_rows=int(nominal_rows))


class _BatchStatistics:
    """Summed variational statistics of a row range at a state's posterior: one compute.

    ``loglik`` is the batch's sum of log-normalisers of the responsibilities
    (``score_samples``), which early stopping watches.
    """

    def __init__(self, X, sample_weight, vi):
        self.X = X
        self.sample_weight = sample_weight
        self.vi = vi

    def __call__(self, state, start, stop):
        model, layout = self.vi.model, self.vi.layout
        kernel_params = model.estep_params(state.params, self.X.dtype, shift=state.shift)
        stats = _graph.reduce_row_range(
            self.X, self.sample_weight, start, stop, chunk_vi_stats, size=layout.size,
            name="bgmm-svi-estep", split_every=self.vi.split_every,
            params=kernel_params, layout=layout, check_finite=True,
        )
        (vector,) = _graph.compute(stats)
        batch = layout.unpack(vector)
        raise_if_nonfinite(batch["nonfinite"])
        batch["s2"] = second_moment_about_shift(model.covariance, batch,
                                                kernel_params.centres.astype(np.float64))
        return batch


def _update(vi, total_weight):
    """Batch VI's update of per-sample statistics scaled to ``total_weight`` rows.

    ``total_weight`` None scales to the rows seen so far (``partial_fit``,
    where the size of the data set is not known).
    """

    def m_step(stats, shift, scale):
        weight = float(scale if total_weight is None else total_weight)
        summed = {name: stats[name] * weight for name in STAT_NAMES}
        summed["shift"] = shift
        summed["centres"] = np.zeros_like(stats["sy"])
        return vi.model.m_step(summed, vi.dtype)

    return m_step


def _model_settings(settings):
    """The model settings a checkpoint must agree on, beyond mini-batch EM's.

    The weight prior and the scalar priors as resolved for the fit; the
    mean and covariance priors (arrays, by default moments of the data) are
    not compared.
    """
    model = settings.options["model"]
    priors = model.priors
    return {
        "estimator": "BayesianGaussianMixture",
        "weight_prior": type(model.weight_prior).__name__,
        "weight_concentration_prior": float(priors.weight_concentration),
        "mean_precision_prior": float(priors.mean_precision),
        "degrees_of_freedom_prior": float(priors.degrees_of_freedom),
    }


def stochastic_updates(settings, state, data, sample_weight, ranges):
    """The updates of one ``partial_fit``: one per row range, in order.

    Parameters
    ----------
    settings : FitSettings
        The model in ``options["model"]``, and the stochastic options.
    state : StepwiseState
    data : InputData
    sample_weight : dask.array.Array or None
    ranges : list of (int, int)

    Returns
    -------
    state : StepwiseState
    mean_score : float
        The mean log-normaliser of the rows, each taken before its update.
    """
    n_features = data.array.shape[1]
    vi = VariationalPass.from_settings(settings, n_features, data.dtype)
    batch_fn = _BatchStatistics(data.array, sample_weight, vi)
    schedule = _schedule(settings, n_features)
    m_step = _update(vi, None)
    total, weight = 0.0, 0.0
    for start, stop in ranges:
        batch = batch_fn(state, start, stop)
        total += float(batch["loglik"])
        weight += float(batch["weight"])
        state, _ = stepwise_update(state, batch, stop - start, schedule, m_step)
    return state, (total / weight if weight > 0 else -np.inf)


class StochasticVI(Algorithm):
    """Stochastic variational inference: natural-gradient steps on mini-batches."""

    name = "minibatch"
    covariance_types = frozenset(WISHART_TYPES)
    parameters = frozenset({"batch_size", "step_decay", "step_offset", "warmup_size",
                            "max_no_improvement", "checkpoint_path", "checkpoint_every"})
    iteration_unit = "pass"
    iteration_units = "passes"
    lower_bound_name = "evidence lower bound after a final full pass (constants dropped)"
    fitted_attribute_names = ("n_steps_", "n_samples_seen_")
    incremental = True

    def check(self, estimator, n_features):
        """Raise if ``checkpoint_path`` cannot be written (see ``check_checkpoint_path``)."""
        check_checkpoint_path(estimator)

    def resume(self, settings, data, sample_weight):
        """The checkpointed fit and its smoothed lower bound; see ``Algorithm.resume``.

        ``settings`` must hold the fit's model (its priors), which the
        checkpoint's settings are compared with.

        Returns
        -------
        tuple or None
        """
        resumed = load_resume(settings, data, sample_weight, VariationalParams,
                              _model_settings(settings))
        return None if resumed is None else (resumed, resumed.cursor.stopping.ewa)

    def initial_rows(self, settings, data, sample_weight, random_state):
        """A few whole batches (as mini-batch EM initialises), not all the rows."""
        rows = batch_rows(settings, data.n_samples)
        return init_subset(data, sample_weight, settings.n_components, rows, random_state)

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """Stochastic updates over the batches, then one full batch-VI step; see ``Algorithm.run``.

        Returns
        -------
        StepwiseResult
        """
        n_samples, n_features = data.array.shape
        vi = VariationalPass.from_settings(settings, n_features, data.dtype)
        if isinstance(params, Resume):
            state, cursor, plan = params.state, params.cursor, params.plan
        else:
            rows = batch_rows(settings, n_samples)
            state = initial_vi_state(vi.model, params, data.dtype, nominal_rows=rows)
            plan = BatchPlan(n_samples, rows,
                             int(random_state.randint(np.iinfo(np.int32).max)))
            cursor = Cursor(0, 0, EarlyStopping(settings.tol,
                                                settings.options["max_no_improvement"]))
        result = run_stepwise(
            _BatchStatistics(data.array, sample_weight, vi), state, plan, cursor,
            schedule=_schedule(settings, n_features, n_samples),
            m_step=_update(vi, settings.options["total_weight"]),
            max_epochs=settings.max_iter, on_step=on_iteration,
            checkpoint=checkpoint_writer(settings, data, sample_weight, plan,
                                         _model_settings(settings)),
            checkpoint_every=settings.options["checkpoint_every"],
        )
        if settings.max_iter > 0:
            final = vi.step(data.array, sample_weight, result.params, first=False)
            result.params = final["params"]
            result.lower_bound = final["loglik"]
        return result

    def fitted_attributes(self, result):
        """``n_steps_`` and ``n_samples_seen_`` of the stochastic updates."""
        return {"n_steps_": int(result.state.n_steps),
                "n_samples_seen_": int(result.state.rows_seen)}
