"""GaussianMixture(algorithm="minibatch"): accuracy, invariances, compute budget."""

from __future__ import annotations

import re
import warnings

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from daskmix import GaussianMixture
from daskmix.mixture import _gaussian_mixture
from daskmix.mixture.algorithms import minibatch as _minibatch
from tests._covariance_cases import STEPWISE_TYPES
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, ComputeCounter, as_dask
from tests.mixture._stepwise_support import assert_same_model, fit_quietly, labelled_init


@pytest.fixture(scope="module")
def separated():
    """Five well-separated blobs, 6,000 x 4, far from the origin."""
    X, y = make_blobs(6000, n_features=4, centers=5, cluster_std=1.0, center_box=(-20, 20),
                      random_state=3)
    return X + 100.0, y


@pytest.mark.parametrize("covariance_type", STEPWISE_TYPES)
def test_minibatch_reaches_exact_em_loglikelihood_in_three_passes(separated, covariance_type):
    X, _ = separated
    exact = GaussianMixture(5, covariance_type=covariance_type, random_state=0).fit(X)
    minibatch = fit_quietly(
        GaussianMixture(5, covariance_type=covariance_type, algorithm="minibatch",
                        batch_size=300, max_iter=3, random_state=0),
        as_dask(X, (1000,) * 6),
    )
    assert minibatch.n_iter_ <= 3
    assert minibatch.n_samples_seen_ <= 3 * len(X)
    exact_score = exact.score(X)
    assert minibatch.score(X) >= exact_score - 0.005 * abs(exact_score)


@pytest.mark.parametrize("covariance_type", STEPWISE_TYPES)
def test_warmup_over_the_whole_data_is_one_exact_em_iteration(blobs, covariance_type):
    X, y = blobs
    init = labelled_init(X, y, covariance_type)
    reference = SkGaussianMixture(N_COMPONENTS, covariance_type=covariance_type, max_iter=1,
                                  **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X)
    # every batch pooled at the initial parameters, then one M-step
    ours = fit_quietly(
        GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, algorithm="minibatch",
                        batch_size=70, warmup_size=len(X), max_iter=1, random_state=0, **init),
        as_dask(X, CHUNK_LAYOUTS["ragged"]),
    )
    assert ours.n_steps_ == -(-len(X) // 70)
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(ours, name), getattr(reference, name), rtol=1e-8, atol=1e-10,
                        err_msg=name)


@pytest.mark.parametrize("layout", sorted(CHUNK_LAYOUTS))
def test_result_does_not_depend_on_chunking(blobs, layout):
    X, _ = blobs
    kwargs = dict(algorithm="minibatch", batch_size=128, max_iter=2, random_state=4,
                  max_no_improvement=None)
    in_memory = fit_quietly(GaussianMixture(N_COMPONENTS, **kwargs), X)
    chunked = fit_quietly(GaussianMixture(N_COMPONENTS, **kwargs),
                          as_dask(X, CHUNK_LAYOUTS[layout]))
    assert_same_model(chunked, in_memory)
    assert chunked.lower_bound_ == pytest.approx(in_memory.lower_bound_, rel=1e-12)


def test_random_state_fixes_the_batch_order(blobs):
    X, y = blobs
    init = labelled_init(X, y, "full")
    kwargs = dict(algorithm="minibatch", batch_size=100, max_iter=2, max_no_improvement=None,
                  **init)
    a, b, c = (fit_quietly(GaussianMixture(N_COMPONENTS, random_state=seed, **kwargs), X)
               for seed in (1, 1, 2))
    assert_same_model(a, b, rtol=0)
    # same start, other batch order: a (slightly) different path
    assert not np.allclose(a.means_, c.means_, rtol=1e-12, atol=0)


def test_one_compute_per_update_with_labelled_init(blobs):
    X, y = blobs
    Xd = as_dask(X, CHUNK_LAYOUTS["even"])
    with ComputeCounter() as counter:
        gm = fit_quietly(
            GaussianMixture(N_COMPONENTS, algorithm="minibatch", batch_size=100, max_iter=3,
                            random_state=0, **labelled_init(X, y, "full")),
            Xd,
        )
    assert counter.count == gm.n_steps_ > 6


class RecordingRows:
    """An in-memory array that records how many rows each read takes."""

    def __init__(self, X):
        self.X = X
        self.shape, self.dtype, self.ndim = X.shape, X.dtype, X.ndim
        self.reads = []

    def __getitem__(self, key):
        rows = self.X[key]
        self.reads.append(len(rows))
        return rows


@pytest.mark.parametrize("batch_size", [60, 45])
def test_an_update_reads_only_the_rows_of_its_batch(blobs, batch_size):
    X, y = blobs
    source = RecordingRows(X)
    Xd = da.from_array(source, chunks=(60, 3), meta=np.empty((0, 0)))
    gm = fit_quietly(
        GaussianMixture(N_COMPONENTS, algorithm="minibatch", batch_size=batch_size, max_iter=1,
                        covariance_type="diag", random_state=0, **labelled_init(X, y, "diag")),
        Xd,
    )
    # one pass: every row read exactly once, never more than a batch at a time
    assert gm.n_steps_ == -(-len(X) // batch_size)
    assert sum(source.reads) == len(X)
    assert max(source.reads) <= batch_size


def test_initialisation_sees_a_few_batches_not_the_whole_data(separated, monkeypatch):
    X, _ = separated
    seen = []
    original = _gaussian_mixture.initial_params

    def recording(method, ctx, rng):
        seen.append(ctx.X.shape[0])
        return original(method, ctx, rng)

    monkeypatch.setattr(_gaussian_mixture, "initial_params", recording)
    monkeypatch.setattr(_minibatch, "sample_size", lambda n, k: min(n, 500))
    fit_quietly(GaussianMixture(5, algorithm="minibatch", batch_size=300, max_iter=1,
                                random_state=0), X)
    # 3 batches of 300 rows
    assert seen == [900]


def test_early_stopping(separated):
    X, _ = separated
    stopped = GaussianMixture(5, algorithm="minibatch", batch_size=200, max_iter=50, tol=1e-2,
                              max_no_improvement=5, random_state=0).fit(X)
    assert stopped.converged_
    assert stopped.n_iter_ < 50
    assert len(stopped.lower_bounds_) == stopped.n_iter_
    with pytest.warns(ConvergenceWarning):
        never = GaussianMixture(5, algorithm="minibatch", batch_size=2000, max_iter=2,
                                max_no_improvement=None, random_state=0).fit(X)
    assert not never.converged_
    assert never.n_iter_ == 2 and never.n_steps_ == 6


def test_lower_bound_estimates_the_mean_loglikelihood(separated):
    X, _ = separated
    gm = fit_quietly(GaussianMixture(5, algorithm="minibatch", batch_size=200, max_iter=4,
                                     random_state=0), X)
    assert gm.lower_bound_ == pytest.approx(gm.score(X), rel=0.02)


def test_uniform_weights_change_nothing(blobs):
    X, _ = blobs
    kwargs = dict(algorithm="minibatch", batch_size=100, max_iter=2, random_state=0)
    plain = fit_quietly(GaussianMixture(N_COMPONENTS, **kwargs), X)
    weighted = fit_quietly(GaussianMixture(N_COMPONENTS, **kwargs), X,
                           sample_weight=np.full(len(X), 3.0))
    assert_same_model(weighted, plain, rtol=1e-9)


def test_float32_stays_float32_and_close_to_float64(blobs):
    X, _ = blobs
    kwargs = dict(algorithm="minibatch", batch_size=100, max_iter=2, random_state=0)
    gm64 = fit_quietly(GaussianMixture(N_COMPONENTS, **kwargs), X)
    gm32 = fit_quietly(GaussianMixture(N_COMPONENTS, **kwargs), X.astype(np.float32))
    assert gm32.means_.dtype == np.float32
    assert_allclose(gm32.means_, gm64.means_, rtol=1e-4)


def test_warm_start_keeps_the_running_statistics(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, algorithm="minibatch", batch_size=100, max_iter=1,
                         warm_start=True, random_state=0)
    fit_quietly(gm, X)
    first_state = gm._stepwise_state
    fit_quietly(gm, X)
    assert gm.n_steps_ == 2 * first_state.n_steps == 12
    assert gm.n_samples_seen_ == 2 * len(X)
    assert gm._stepwise_state.shift is first_state.shift


def test_exact_em_after_minibatch_drops_the_stepwise_attributes(blobs):
    X, _ = blobs
    gm = fit_quietly(GaussianMixture(N_COMPONENTS, algorithm="minibatch", batch_size=100,
                                     max_iter=1, random_state=0), X)
    assert gm.n_steps_ == 6
    gm.set_params(algorithm="em", max_iter=100).fit(X)
    assert not hasattr(gm, "n_steps_") and not hasattr(gm, "_stepwise_state")


def test_progress_counts_passes_as_max_iter_does(blobs, capsys, monkeypatch):
    from daskmix import _progress

    monkeypatch.setattr(_progress, "LOG_INTERVAL", 0.0)  # a line for every update
    X, _ = blobs
    gm = fit_quietly(GaussianMixture(N_COMPONENTS, algorithm="minibatch", batch_size=100,
                                     max_iter=2, max_no_improvement=None, progress=True,
                                     random_state=0), X)
    lines = capsys.readouterr().err.splitlines()[1:]  # after the "initialising" line
    done = [float(re.search(r": (?:done after )?([\d.]+) of at most 2 passes,", line).group(1))
            for line in lines]
    updates_per_pass = -(-len(X) // 100)
    assert gm.n_steps_ == 2 * updates_per_pass
    expected = [step / updates_per_pass for step in range(1, gm.n_steps_ + 1)]
    assert done == pytest.approx(expected + [2], abs=5e-4)  # and "done after 2"


@pytest.mark.parametrize("params, match", [
    ({"step_decay": 0.5}, "step_decay"),
    ({"step_decay": 1.2}, "step_decay"),
    ({"step_offset": -1.0}, "step_offset"),
    ({"step_offset": "fast"}, "step_offset"),
    ({"warmup_size": -5}, "warmup_size"),
    ({"batch_size": 0}, "batch_size"),
    ({"max_no_improvement": 0}, "max_no_improvement"),
    ({"checkpoint_every": 0}, "checkpoint_every"),
])
def test_bad_parameters_are_rejected(blobs, params, match):
    X, _ = blobs
    with pytest.raises(ValueError, match=match):
        GaussianMixture(N_COMPONENTS, algorithm="minibatch", **params).fit(X)
