"""Checkpoints of a stochastic-VI fit: resuming ends as if uninterrupted, settings are checked."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose, assert_array_equal

from daskmix import BayesianGaussianMixture, GaussianMixture
from daskmix._dask import graph as _graph
from daskmix.mixture.algorithms import checkpoint as _checkpoint
from daskmix.mixture.variational import VariationalParams
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, as_dask
from tests.mixture._stepwise_support import fit_quietly

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_",
          "weight_concentration_", "mean_precision_", "degrees_of_freedom_",
          "n_steps_", "n_samples_seen_", "n_iter_", "lower_bound_", "converged_")


class Killed(Exception):
    """Stands for the process dying in the middle of a compute."""


def kill_after(monkeypatch, n_updates):
    """Make the compute of stochastic update ``n_updates`` raise ``Killed``."""
    original = _graph.compute
    calls = []

    def compute(*args, **kwargs):
        calls.append("bgmm-svi-estep" in getattr(args[0], "name", ""))
        if sum(calls) == n_updates and calls[-1]:
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(_graph, "compute", compute)


def estimator(**kwargs):
    params = dict(algorithm="minibatch", batch_size=70, max_iter=3, random_state=0,
                  max_no_improvement=None, checkpoint_every=4)
    params.update(kwargs)
    return BayesianGaussianMixture(n_components=N_COMPONENTS, **params)


@pytest.mark.parametrize("prior", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("killed_at", [5, 13])
def test_killed_and_resumed_fit_matches_an_uninterrupted_one(blobs, tmp_path, monkeypatch,
                                                            prior, killed_at):
    X, _ = blobs
    Xd = as_dask(X, CHUNK_LAYOUTS["ragged"])
    reference = fit_quietly(estimator(weight_concentration_prior_type=prior), Xd)
    path = tmp_path / "fit.npz"
    interrupted = estimator(checkpoint_path=path, weight_concentration_prior_type=prior)
    with monkeypatch.context() as patch:
        kill_after(patch, killed_at)
        with pytest.raises(Killed):
            interrupted.fit(Xd)
    assert not hasattr(interrupted, "means_")
    state, _, _, _ = _checkpoint.load_checkpoint(path, VariationalParams)
    assert 0 < state.n_steps < reference.n_steps_
    resumed = fit_quietly(interrupted, Xd)
    # equal to rounding: the resumed fit recomputes the priors' data moments
    # about the saved fit's shift, not the initial posterior's centre
    for name in FITTED:
        assert_allclose(getattr(resumed, name), getattr(reference, name), rtol=1e-10,
                        atol=1e-12, err_msg=name)
    assert_array_equal(resumed.n_steps_, reference.n_steps_)
    assert_allclose(resumed.lower_bounds_, reference.lower_bounds_, rtol=1e-10)


@pytest.mark.parametrize("change, name", [
    ({"batch_size": 80}, "batch_rows"),
    ({"weight_concentration_prior": 0.5}, "weight_concentration_prior"),
    ({"weight_concentration_prior_type": "dirichlet_distribution"}, "weight_prior"),
    ({"covariance_type": "diag"}, "covariance_type"),
])
def test_resuming_with_other_settings_is_an_error(blobs, tmp_path, change, name):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    fit_quietly(estimator(checkpoint_path=path, max_iter=1), X)
    with pytest.raises(ValueError, match=f"other settings.*{name}.*delete the file"):
        estimator(checkpoint_path=path, **change).fit(X)


def test_another_estimators_checkpoint_is_a_clear_error(blobs, tmp_path):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    fit_quietly(GaussianMixture(N_COMPONENTS, algorithm="minibatch", batch_size=70,
                                max_iter=1, random_state=0, checkpoint_path=path), X)
    with pytest.raises(ValueError, match="GaussianParams, not VariationalParams"):
        estimator(checkpoint_path=path).fit(X)


def test_checkpoint_settings_are_not_model_parameters(blobs, tmp_path):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    bgm = fit_quietly(estimator(checkpoint_path=path, max_iter=1), X)
    bgm.save(tmp_path / "model.nc")
    from daskmix import load

    assert load(tmp_path / "model.nc").checkpoint_path is None


def test_checkpoints_need_one_initialisation(blobs, tmp_path):
    X, _ = blobs
    with pytest.raises(ValueError, match="n_init=1"):
        estimator(checkpoint_path=tmp_path / "fit.npz", n_init=2).fit(X)
