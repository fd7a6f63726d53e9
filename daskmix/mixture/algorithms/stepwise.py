"""Stepwise (mini-batch, online) EM: the update policy and the loop over batches.

Stepwise EM (Sato and Ishii 2000; Cappé and Moulines 2009; Liang and Klein
2009) keeps running sufficient statistics ``s`` and, for every batch, moves
them towards the batch's statistics computed at the current parameters, then
runs the ordinary M-step on ``s``::

    s_t     = (1 - eta_t) s_{t-1} + eta_t  S_batch / W_batch
    theta_t = M-step(s_t)

This module owns the policy and nothing else (no Dask, no covariance type):

* **Per-sample statistics.** ``S_batch / W_batch`` is the batch's statistics
  divided by its total weight, so batches of any size share one scale; the
  M-step is scale-free, and :func:`stepwise_update` hands it the running
  statistics times the rows seen so far (the scale exact EM would have).
* **Second moments about one shift.** Statistics of different steps only
  add up when taken about the same point, so the shift is fixed when the
  state is created (:func:`initial_state`) and :func:`second_moment_about_shift`
  moves a batch's second moment there from the centres its kernel used.
* **Warm-up.** Until ``warmup_rows`` rows have been seen the parameters stay
  at their initial values and batches are pooled exactly
  (``eta = W_batch / W_seen``): together they act as one large first batch.
  The first M-step follows the batch that completes the warm-up.
* **Step sizes.** After the warm-up, update ``t = 1, 2, ...`` uses
  ``eta_t = (t + t0) ** -step_decay``, ``0.5 < step_decay <= 1``. With
  ``step_offset="auto"``, ``t0`` follows the continuity rule: the first
  decaying step equals the step exact pooling would take next,
  ``(1 + t0) ** -step_decay = m / (N_warm + m)`` for the nominal batch size
  ``m`` and the ``N_warm`` rows of the warm-up.
* **Unequal batches.** A batch of ``n`` rows gets
  ``1 - (1 - eta_t) ** (n / m)``: a half-size batch moves about half as far,
  exactly as applying the nominal update ``n / m`` times at fixed
  parameters would.
* **Early stopping.** :class:`EarlyStopping` keeps an exponentially weighted
  average (EWA) of the batch mean log-likelihoods, with weight
  ``min(1, 2 n_batch / (n_samples + 1))`` as scikit-learn's
  ``MiniBatchKMeans`` does, and stops once the EWA has not risen by more
  than ``tol`` above its best for ``max_no_improvement`` consecutive
  post-warm-up batches.
* **Batches.** :class:`BatchPlan` cuts the rows into ``batch_rows``-row
  ranges by global row index and visits them in a fresh order every epoch,
  drawn from a counter-based stream (:func:`daskmix._random.counter_uniform`)
  keyed by the fit's seed and the epoch, so the order is reproducible, does
  not depend on the chunking, and can be recomputed after a restart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from daskmix._random import counter_uniform
from daskmix.mixture.algorithms.em import RunResult

__all__ = [
    "BatchPlan",
    "Cursor",
    "EarlyStopping",
    "StepSchedule",
    "StepwiseResult",
    "StepwiseState",
    "default_warmup_rows",
    "initial_state",
    "run_stepwise",
    "second_moment_about_shift",
    "stepwise_update",
]

#: Statistics interpolated between steps (the M-step's inputs).
STAT_NAMES = ("nk", "sy", "s2")


def default_warmup_rows(n_components, n_features):
    """Rows pooled before the first M-step by default: ``max(20, 2 K (d + 1))``.

    About ``2 (d + 1)`` rows per component, enough for a first covariance
    estimate of every component.

    Parameters
    ----------
    n_components, n_features : int

    Returns
    -------
    int
    """
    return int(max(20, 2 * n_components * (n_features + 1)))


@dataclass(frozen=True)
class StepSchedule:
    """Step sizes and warm-up length of stepwise EM.

    Parameters
    ----------
    decay : float
        ``alpha`` of ``eta_t = (t + t0) ** -alpha``, in (0.5, 1].
    offset : float or None
        ``t0``; None applies the continuity rule when the warm-up ends.
    warmup_rows : int
        Rows pooled at the initial parameters before the first M-step.
    """

    decay: float
    offset: float | None
    warmup_rows: int

    def offset_after_warmup(self, warm_rows, nominal_rows):
        """``t0`` once the warm-up has seen ``warm_rows`` rows.

        Parameters
        ----------
        warm_rows : int
            Rows pooled by the warm-up.
        nominal_rows : int
            The nominal batch size ``m``.

        Returns
        -------
        float
            ``offset`` if one was given, else the solution of
            ``(1 + t0) ** -decay = m / (warm_rows + m)``.
        """
        if self.offset is not None:
            return float(self.offset)
        return ((warm_rows + nominal_rows) / nominal_rows) ** (1.0 / self.decay) - 1.0

    def step_size(self, t, offset, n_rows, nominal_rows):
        """Step size of decaying update ``t`` (1-based) on a batch of ``n_rows`` rows.

        Parameters
        ----------
        t : int
            Updates since the warm-up, this one included.
        offset : float
            ``t0``.
        n_rows, nominal_rows : int
            Rows of this batch and of a nominal batch.

        Returns
        -------
        float
            ``1 - (1 - (t + t0) ** -decay) ** (n_rows / nominal_rows)``.
        """
        eta = (t + offset) ** -self.decay
        return 1.0 - (1.0 - eta) ** (n_rows / nominal_rows)


@dataclass(frozen=True)
class StepwiseState:
    """What stepwise EM carries from one update to the next (all small).

    Attributes
    ----------
    params : GaussianParams
        Current parameters (float64).
    shift : ndarray of shape (n_features,)
        The fixed point second moments are taken about.
    stats : dict or None
        Running per-sample statistics ``nk``, ``sy`` (about ``shift``) and
        ``s2`` (about ``shift``); None before the first update.
    nominal_rows : int
        The nominal batch size ``m`` of the step-size rule; 0 until the
        first update sets it from that batch.
    n_steps : int
        Updates applied, warm-up included.
    n_decay_steps : int
        Updates since the warm-up (``t``).
    offset : float
        ``t0`` of the decaying schedule; NaN during the warm-up.
    rows_seen : int
        Rows of every batch used so far.
    warm_weight : float
        Total weight pooled by the warm-up.
    warmed_up : bool
        Whether the warm-up is over (the parameters have been updated).
    """

    params: object
    shift: np.ndarray
    stats: dict | None = None
    nominal_rows: int = 0
    n_steps: int = 0
    n_decay_steps: int = 0
    offset: float = math.nan
    rows_seen: int = 0
    warm_weight: float = 0.0
    warmed_up: bool = False


def initial_state(params, dtype, nominal_rows=0):
    """A fresh state at ``params``, its shift the weighted mean of the means.

    Parameters
    ----------
    params : GaussianParams
    dtype : numpy dtype
        The data's dtype: the shift is rounded to it, since the kernels
        subtract it in that dtype.
    nominal_rows : int, default=0
        Nominal batch size; 0 takes the first batch's size.

    Returns
    -------
    StepwiseState
    """
    weights = params.weights / params.weights.sum()
    shift = (weights @ params.means).astype(dtype).astype(np.float64)
    return StepwiseState(params=params, shift=shift, nominal_rows=int(nominal_rows))


def second_moment_about_shift(covariance, stats, centres):
    """A batch's second moment about the shift, from the one its kernel returned.

    Kernels may take the second moment about the current centres (``full``
    does) or about the shift (the other types); the covariance type moves it
    (:meth:`second_moment_about_shift` of its covariance type).

    Parameters
    ----------
    covariance : CovarianceType
        The covariance type (an instance from ``mixture.covariance``).
    stats : dict
        Unpacked batch statistics (``nk``, ``sy``, ``s2``), summed.
    centres : ndarray of shape (n_components, n_features)
        The centres the kernel used, in shifted coordinates.

    Returns
    -------
    s2 : ndarray of shape ``second_moment_shape``
    """
    return covariance.second_moment_about_shift(stats["s2"], stats["nk"], stats["sy"], centres)


def _interpolate(old, new, eta):
    """Running statistics moved a fraction ``eta`` of the way to ``new``.

    Parameters
    ----------
    old : dict or None
        Running statistics (None before the first update).
    new : dict
        The batch's per-sample statistics.
    eta : float
        Step size in (0, 1]; 1 (or no ``old``) takes ``new``.

    Returns
    -------
    dict
        ``(1 - eta) * old + eta * new`` for each of ``STAT_NAMES``.
    """
    if old is None or eta >= 1.0:
        return {name: np.array(new[name], dtype=np.float64) for name in STAT_NAMES}
    return {name: (1.0 - eta) * old[name] + eta * new[name] for name in STAT_NAMES}


def stepwise_update(state, batch, n_rows, schedule, m_step):
    """One stepwise EM update with the statistics of one batch.

    Parameters
    ----------
    state : StepwiseState
    batch : dict
        The batch's summed statistics at ``state.params``: ``nk``, ``sy``,
        ``s2`` (about ``state.shift``), ``loglik`` and ``weight``.
    n_rows : int
        Rows in the batch.
    schedule : StepSchedule
    m_step : callable
        ``m_step(stats, shift, scale) -> GaussianParams`` where ``stats``
        are per-sample statistics about ``shift`` and ``scale`` the rows
        seen so far (exact EM's M-step sees sums over that many rows).

    Returns
    -------
    state : StepwiseState
        The new state (``state`` itself is not modified).
    mean_loglik : float or None
        The batch's mean log-likelihood at the parameters before the update;
        None for a batch without rows or weight (which changes nothing but
        the rows seen).
    """
    rows_seen = state.rows_seen + int(n_rows)
    weight = float(batch["weight"])
    if n_rows == 0 or weight <= 0:
        return replace(state, rows_seen=rows_seen), None
    nominal = state.nominal_rows or int(n_rows)
    mean = {name: batch[name] / weight for name in STAT_NAMES}
    mean_loglik = float(batch["loglik"]) / weight
    changes = dict(rows_seen=rows_seen, nominal_rows=nominal, n_steps=state.n_steps + 1)
    if state.warmed_up:
        t = state.n_decay_steps + 1
        eta = schedule.step_size(t, state.offset, n_rows, nominal)
        stats = _interpolate(state.stats, mean, eta)
        changes.update(n_decay_steps=t, params=m_step(stats, state.shift, rows_seen))
    else:
        warm_weight = state.warm_weight + weight
        stats = _interpolate(state.stats, mean, weight / warm_weight)
        changes.update(warm_weight=warm_weight)
        if rows_seen >= schedule.warmup_rows:
            changes.update(
                warmed_up=True, params=m_step(stats, state.shift, rows_seen),
                offset=schedule.offset_after_warmup(rows_seen, nominal),
            )
    return replace(state, stats=stats, **changes), mean_loglik


@dataclass
class EarlyStopping:
    """Exponentially weighted average of batch log-likelihoods, and when to stop.

    Parameters
    ----------
    tol : float
        Smallest rise of the EWA above its best that counts as improvement.
    max_no_improvement : int or None
        Post-warm-up batches without improvement before stopping; None never
        stops.
    ewa : float
        Current average (NaN before the first batch).
    best : float
        Best average since the last improvement.
    no_improvement : int
        Consecutive batches without improvement.
    """

    tol: float
    max_no_improvement: int | None
    ewa: float = math.nan
    best: float = -math.inf
    no_improvement: int = 0

    def observe(self, mean_loglik, n_rows, n_samples, count):
        """Add one batch; True when the fit should stop.

        Parameters
        ----------
        mean_loglik : float
        n_rows, n_samples : int
            Rows of the batch and of the data set (the EWA's weight is
            ``min(1, 2 n_rows / (n_samples + 1))``).
        count : bool
            Whether this batch counts towards stopping (False during the
            warm-up, when the parameters do not move).

        Returns
        -------
        bool
        """
        alpha = min(1.0, 2.0 * n_rows / (n_samples + 1))
        if math.isnan(self.ewa):
            self.ewa = mean_loglik
        else:
            self.ewa += alpha * (mean_loglik - self.ewa)
        if not count:
            return False
        if self.ewa > self.best + self.tol:
            self.best = self.ewa
            self.no_improvement = 0
        else:
            self.no_improvement += 1
        return (self.max_no_improvement is not None
                and self.no_improvement >= self.max_no_improvement)


@dataclass(frozen=True)
class BatchPlan:
    """Row ranges of ``batch_rows`` rows, visited in a seeded order per epoch.

    Parameters
    ----------
    n_samples : int
    batch_rows : int
    seed : int
        Non-negative key of the order's random stream.
    """

    n_samples: int
    batch_rows: int
    seed: int

    @property
    def n_batches(self):
        """Batches per epoch (the last one may be short)."""
        return -(-self.n_samples // self.batch_rows)

    def order(self, epoch):
        """The batch indices of ``epoch`` (0-based), in visiting order.

        Parameters
        ----------
        epoch : int

        Returns
        -------
        ndarray of int64, shape (n_batches,)
        """
        keys = counter_uniform(self.seed, epoch * self.n_batches, self.n_batches, 1)[:, 0]
        return np.argsort(keys, kind="stable").astype(np.int64)

    def bounds(self, index):
        """First and past-the-end row of batch ``index``.

        Parameters
        ----------
        index : int

        Returns
        -------
        (int, int)
        """
        start = int(index) * self.batch_rows
        return start, min(start + self.batch_rows, self.n_samples)


@dataclass
class Cursor:
    """Where a stepwise fit is in its loop, and its early-stopping record.

    Attributes
    ----------
    epoch : int
        Epochs completed.
    position : int
        Batches done in the current epoch.
    stopping : EarlyStopping
    lower_bounds : list of float
        The EWA at the end of every epoch (and where the fit stopped).
    converged : bool
    """

    epoch: int
    position: int
    stopping: EarlyStopping
    lower_bounds: list = field(default_factory=list)
    converged: bool = False

    @property
    def n_epochs_started(self):
        """Epochs begun: completed ones plus a partly done one."""
        return self.epoch + (self.position > 0)


@dataclass
class StepwiseResult(RunResult):
    """``RunResult`` of a stepwise fit, with the state to continue from.

    Attributes
    ----------
    state : StepwiseState or None
    cursor : Cursor or None
    """

    state: StepwiseState | None = None
    cursor: Cursor | None = None


def run_stepwise(batch_fn, state, plan, cursor, *, schedule, m_step, max_epochs,
                 on_step, checkpoint=None, checkpoint_every=None):
    """Stepwise EM over the batches of ``plan`` until early stopping or ``max_epochs``.

    Parameters
    ----------
    batch_fn : callable
        ``batch_fn(state, start, stop) -> dict`` of summed statistics of rows
        ``start:stop`` at ``state.params`` (see :func:`stepwise_update`);
        one ``dask.compute``.
    state : StepwiseState
    plan : BatchPlan
    cursor : Cursor
        Where to start (a fresh ``Cursor(0, 0, EarlyStopping(...))`` or one
        read from a checkpoint); updated in place.
    schedule : StepSchedule
    m_step : callable
        As for :func:`stepwise_update`.
    max_epochs : int
        Passes over the data, counting those of ``cursor``.
    on_step : callable
        ``on_step(n_updates, ewa, change)`` after every update of this call.
    checkpoint : callable or None
        ``checkpoint(state, cursor)``, called every ``checkpoint_every``
        updates and when the loop ends.
    checkpoint_every : int or None

    Returns
    -------
    StepwiseResult
    """
    n_updates = 0
    order_epoch, order = None, None
    while cursor.epoch < max_epochs and not cursor.converged:
        if order_epoch != cursor.epoch:
            order_epoch, order = cursor.epoch, plan.order(cursor.epoch)
        start, stop = plan.bounds(order[cursor.position])
        counts = state.warmed_up
        previous = cursor.stopping.ewa
        state, mean_loglik = stepwise_update(
            state, batch_fn(state, start, stop), stop - start, schedule, m_step
        )
        if mean_loglik is not None:
            cursor.converged = cursor.stopping.observe(
                mean_loglik, stop - start, plan.n_samples, counts
            )
        # the cursor is complete after every update, so a checkpoint taken
        # here resumes exactly
        cursor.position += 1
        if cursor.position == len(order):
            cursor.epoch += 1
            cursor.position = 0
            cursor.lower_bounds.append(cursor.stopping.ewa)
        elif cursor.converged:
            cursor.lower_bounds.append(cursor.stopping.ewa)
        n_updates += 1
        on_step(n_updates, cursor.stopping.ewa, cursor.stopping.ewa - previous)
        if checkpoint is not None and checkpoint_every and n_updates % checkpoint_every == 0:
            checkpoint(state, cursor)
    if checkpoint is not None:
        checkpoint(state, cursor)
    ewa = cursor.stopping.ewa
    return StepwiseResult(
        params=state.params, lower_bound=ewa if math.isfinite(ewa) else -math.inf,
        lower_bounds=list(cursor.lower_bounds), n_iter=cursor.n_epochs_started,
        converged=cursor.converged, state=state, cursor=cursor,
    )
