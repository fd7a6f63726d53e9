"""The stepwise EM policy on its own (no Dask): schedule, warm-up, interpolation, stopping."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from daskmix.mixture._params import GaussianParams, estep_params
from daskmix.mixture.algorithms.stepwise import (
    BatchPlan,
    EarlyStopping,
    StepSchedule,
    StepwiseState,
    second_moment_about_shift,
    stepwise_update,
)
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture.kernels.suffstats import (
    StatsLayout,
    chunk_em_stats,
    estimate_weighted_log_prob,
)
from tests._covariance_cases import STEPWISE_TYPES

K, D = 2, 3


def batch_stats(rng, weight, loglik=-1.0):
    """Summed statistics of a made-up batch of total weight ``weight``."""
    return {
        "nk": weight * rng.dirichlet(np.ones(K)),
        "sy": weight * rng.normal(size=(K, D)),
        "s2": weight * rng.uniform(1, 2, size=(K, D)),
        "loglik": weight * loglik,
        "weight": float(weight),
    }


class RecordingMStep:
    """An M-step that records its inputs and returns fresh marker parameters."""

    def __init__(self):
        self.calls = []

    def __call__(self, stats, shift, scale):
        self.calls.append((stats, scale))
        marker = float(len(self.calls))
        return GaussianParams(np.full(K, 0.5), np.full((K, D), marker), np.ones((K, D)),
                              np.ones((K, D)))


def fresh_state(nominal_rows=100):
    params = GaussianParams(np.full(K, 0.5), np.zeros((K, D)), np.ones((K, D)), np.ones((K, D)))
    return StepwiseState(params=params, shift=np.zeros(D), nominal_rows=nominal_rows)


def per_sample(batch):
    return {name: batch[name] / batch["weight"] for name in ("nk", "sy", "s2")}


@pytest.mark.parametrize("decay", [0.51, 0.7, 1.0])
@pytest.mark.parametrize("offset", [0.0, 2.0, 10.0])
def test_step_size_of_a_nominal_batch_is_the_closed_form(decay, offset):
    schedule = StepSchedule(decay, offset, warmup_rows=0)
    for t in (1, 2, 5, 100, 10_000):
        assert schedule.step_size(t, offset, 64, 64) == pytest.approx((t + offset) ** -decay)


@pytest.mark.parametrize("decay", [0.6, 0.7, 1.0])
def test_auto_offset_continues_the_warmup_pooling(decay):
    schedule = StepSchedule(decay, None, warmup_rows=0)
    for warm_rows, batch in [(100, 100), (4224, 1000), (10, 1000)]:
        t0 = schedule.offset_after_warmup(warm_rows, batch)
        # the first decaying step weighs the new batch as pooling would
        assert schedule.step_size(1, t0, batch, batch) == pytest.approx(batch / (warm_rows + batch))
    assert StepSchedule(decay, 3.5, 0).offset_after_warmup(100, 10) == 3.5


@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.7])
def test_unequal_batch_equals_repeated_nominal_updates(fraction):
    schedule = StepSchedule(0.7, 10.0, warmup_rows=0)
    m, t = 1000, 7
    eta = (t + 10.0) ** -0.7
    short = schedule.step_size(t, 10.0, fraction * m, m)
    # weight left on the old statistics: (1 - eta) per nominal batch
    assert 1 - short == pytest.approx((1 - eta) ** fraction)
    quarter = schedule.step_size(t, 10.0, m / 4, m)
    assert (1 - quarter) ** 4 == pytest.approx(1 - schedule.step_size(t, 10.0, m, m))


def test_warmup_pools_exactly_and_holds_the_parameters():
    rng = np.random.default_rng(0)
    schedule = StepSchedule(0.7, None, warmup_rows=250)
    m_step = RecordingMStep()
    state = fresh_state()
    batches = [batch_stats(rng, w) for w in (100.0, 40.0, 100.0, 100.0)]
    rows = [100, 100, 100, 100]
    for batch, n in zip(batches[:2], rows[:2]):
        state, _ = stepwise_update(state, batch, n, schedule, m_step)
        # no M-step before warmup_rows rows: the initial parameters stay
        assert m_step.calls == []
        assert not state.warmed_up
        assert_array_equal(state.params.means, 0.0)
    state, _ = stepwise_update(state, batches[2], rows[2], schedule, m_step)
    assert state.warmed_up and len(m_step.calls) == 1
    total = sum(b["weight"] for b in batches[:3])
    for name in ("nk", "sy", "s2"):
        pooled = sum(b[name] for b in batches[:3]) / total
        assert_allclose(state.stats[name], pooled, rtol=1e-12)
    # the M-step sees the statistics at the scale of the rows seen
    assert m_step.calls[0][1] == 300
    assert state.offset == pytest.approx(schedule.offset_after_warmup(300, 100))


def test_first_update_after_warmup_weighs_like_pooling():
    rng = np.random.default_rng(1)
    schedule = StepSchedule(0.7, None, warmup_rows=300)
    state = fresh_state(nominal_rows=100)
    batches = [batch_stats(rng, 100.0) for _ in range(4)]
    for batch in batches:
        state, _ = stepwise_update(state, batch, 100, schedule, RecordingMStep())
    pooled = {name: sum(b[name] for b in batches) / 400.0 for name in ("nk", "sy", "s2")}
    for name in pooled:
        assert_allclose(state.stats[name], pooled[name], rtol=1e-12)


@pytest.mark.parametrize("offset", [None, 4.0])
def test_decaying_updates_follow_the_schedule(offset):
    rng = np.random.default_rng(2)
    schedule = StepSchedule(0.7, offset, warmup_rows=100)
    state = fresh_state(nominal_rows=100)
    state, _ = stepwise_update(state, batch_stats(rng, 100.0), 100, schedule, RecordingMStep())
    t0 = state.offset
    for t, n_rows in enumerate([100, 100, 30, 100, 170], start=1):
        batch = batch_stats(rng, float(n_rows))
        old = state.stats
        state, mean_loglik = stepwise_update(state, batch, n_rows, schedule, RecordingMStep())
        eta = 1 - (1 - (t + t0) ** -0.7) ** (n_rows / 100)
        for name, value in per_sample(batch).items():
            assert_allclose(state.stats[name], (1 - eta) * old[name] + eta * value, rtol=1e-12)
        assert state.n_decay_steps == t
        assert mean_loglik == pytest.approx(-1.0)
    assert state.n_steps == 6 and state.rows_seen == 600


def test_a_batch_without_weight_only_counts_its_rows():
    state = fresh_state()
    batch = {"nk": np.zeros(K), "sy": np.zeros((K, D)), "s2": np.zeros((K, D)),
             "loglik": 0.0, "weight": 0.0}
    new, mean_loglik = stepwise_update(state, batch, 50, StepSchedule(0.7, None, 10),
                                       RecordingMStep())
    assert mean_loglik is None
    assert new.rows_seen == 50 and new.n_steps == 0 and new.stats is None


@pytest.mark.parametrize("covariance_type", STEPWISE_TYPES)
def test_second_moment_is_moved_to_the_shift(covariance_type):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, D)) + 5.0
    covariance = get_covariance_type(covariance_type)
    shape = covariance.parameter_shape(K, D)
    covariances = {
        "full": np.stack([np.eye(D)] * K), "tied": np.eye(D), "diag": np.ones(shape),
        "spherical": np.ones(shape),
    }[covariance_type]
    params = GaussianParams(np.array([0.3, 0.7]), rng.normal(size=(K, D)) + 5.0, covariances,
                            covariance.precision_cholesky(covariances))
    layout = StatsLayout(K, D, covariance.second_moment_shape(K, D))
    kernel_params = estep_params(covariance, params, np.float64, shift=np.full(D, 4.0))
    stats = layout.unpack(chunk_em_stats(X, None, kernel_params, layout))
    moved = second_moment_about_shift(covariance, stats, kernel_params.centres)
    # independent reference: responsibilities times products of rows about the shift
    Y = X - 4.0
    log_prob = estimate_weighted_log_prob(Y, kernel_params)
    resp = np.exp(log_prob - log_prob.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    expected = {
        "full": np.einsum("nk,ni,nj->kij", resp, Y, Y),
        "tied": Y.T @ Y,
        "diag": resp.T @ Y**2,
        "spherical": resp.T @ np.sum(Y**2, axis=1),
    }[covariance_type]
    assert_allclose(moved, expected, rtol=1e-10)


def test_batch_plan_visits_every_row_once_per_epoch_in_a_new_order():
    plan = BatchPlan(n_samples=1003, batch_rows=100, seed=5)
    assert plan.n_batches == 11
    orders = [plan.order(epoch) for epoch in range(3)]
    for order in orders:
        covered = np.concatenate([np.arange(*plan.bounds(i)) for i in order])
        assert_array_equal(np.sort(covered), np.arange(1003))
    assert not np.array_equal(orders[0], orders[1])
    assert_array_equal(BatchPlan(1003, 100, 5).order(1), orders[1])
    assert not np.array_equal(BatchPlan(1003, 100, 6).order(0), orders[0])


def test_early_stopping_counts_post_warmup_batches_without_improvement():
    stopping = EarlyStopping(tol=0.1, max_no_improvement=3)
    # warm-up batches never count
    assert not any(stopping.observe(-5.0, 10, 9, count=False) for _ in range(10))
    assert not stopping.observe(-4.0, 10, 9, count=True)  # weight 1: the EWA is the value
    assert stopping.best == -4.0
    # rises of at most tol are no improvement
    assert not stopping.observe(-3.95, 10, 9, count=True)
    assert not stopping.observe(-3.92, 10, 9, count=True)
    assert stopping.observe(-3.91, 10, 9, count=True)


def test_early_stopping_smooths_with_the_batch_share_of_the_data():
    stopping = EarlyStopping(tol=0.0, max_no_improvement=None)
    stopping.observe(-2.0, 10, 99, count=True)
    stopping.observe(-1.0, 10, 99, count=True)
    assert stopping.ewa == pytest.approx(-2.0 + 0.2 * 1.0)
    assert not any(stopping.observe(-9.0, 10, 99, count=True) for _ in range(50))
