"""Checkpoints of a mini-batch fit: atomic, no pickle, and resuming ends as if uninterrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from daskmix import GaussianMixture
from daskmix._dask import graph as _graph
from daskmix.mixture.algorithms import checkpoint as _checkpoint
from daskmix.mixture.algorithms import minibatch as _minibatch
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, ComputeCounter, as_dask
from tests.mixture._stepwise_support import FITTED, fit_quietly

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Killed(Exception):
    """Stands for the process dying in the middle of a compute."""


def is_update(collections):
    """Whether a compute is a mini-batch update (not part of the initialisation)."""
    return "gmm-stepwise-estep" in getattr(collections[0], "name", "")


def kill_after(monkeypatch, n_updates):
    """Make the compute of mini-batch update ``n_updates`` raise ``Killed``."""
    original = _graph.compute
    calls = []

    def compute(*args, **kwargs):
        calls.append(is_update(args))
        if sum(calls) == n_updates and calls[-1]:
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(_graph, "compute", compute)


def estimator(**kwargs):
    params = dict(algorithm="minibatch", batch_size=70, max_iter=3, random_state=0,
                  max_no_improvement=None, checkpoint_every=4)
    params.update(kwargs)
    return GaussianMixture(N_COMPONENTS, **params)


def assert_identical_fits(a, b):
    for name in FITTED + ("n_steps_", "n_samples_seen_", "n_iter_", "lower_bound_",
                          "converged_"):
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.lower_bounds_ == b.lower_bounds_


@pytest.mark.parametrize("killed_at", [5, 10, 21])
def test_killed_and_resumed_fit_matches_an_uninterrupted_one(blobs, tmp_path, monkeypatch,
                                                            killed_at):
    X, _ = blobs
    Xd = as_dask(X, CHUNK_LAYOUTS["ragged"])
    reference = fit_quietly(estimator(), Xd)
    path = tmp_path / "fit.npz"
    interrupted = estimator(checkpoint_path=path)
    with monkeypatch.context() as patch:
        kill_after(patch, killed_at)
        with pytest.raises(Killed):
            interrupted.fit(Xd)
    # the failed fit left no half-fitted estimator, and a checkpoint behind
    assert not hasattr(interrupted, "means_")
    state, _cursor, _, _ = _checkpoint.load_checkpoint(path)
    assert 0 < state.n_steps < reference.n_steps_
    resumed = fit_quietly(interrupted, Xd)
    assert_identical_fits(resumed, reference)


def test_crash_after_an_early_stop_resumes_exactly(blobs, tmp_path, monkeypatch):
    X, _ = blobs
    kwargs = dict(max_iter=20, max_no_improvement=3, tol=1e-2, checkpoint_every=1)
    reference = fit_quietly(estimator(**kwargs), X)
    assert reference.converged_
    path = tmp_path / "fit.npz"
    original, calls = _minibatch.save_checkpoint, []

    def save_then_die(*args):
        calls.append(None)
        if len(calls) > reference.n_steps_:  # the final write, after the last update
            raise Killed
        original(*args)

    with monkeypatch.context() as patch:
        patch.setattr(_minibatch, "save_checkpoint", save_then_die)
        with pytest.raises(Killed):
            estimator(checkpoint_path=path, **kwargs).fit(X)
    resumed = fit_quietly(estimator(checkpoint_path=path, **kwargs), X)
    assert_identical_fits(resumed, reference)


def test_sigkilled_process_resumes(blobs, tmp_path):
    X, _ = blobs
    data_path, checkpoint_path = tmp_path / "X.npy", tmp_path / "fit.npz"
    np.save(data_path, X)
    child = textwrap.dedent(f"""
        import os, signal, sys
        import numpy as np
        from daskmix import GaussianMixture
        from daskmix._dask import graph as _graph
        original, updates = _graph.compute, []
        def compute(*args, **kwargs):
            if "gmm-stepwise-estep" in getattr(args[0], "name", ""):
                updates.append(None)
                if len(updates) == 11:
                    os.kill(os.getpid(), signal.SIGKILL)
            return original(*args, **kwargs)
        _graph.compute = compute
        GaussianMixture({N_COMPONENTS}, algorithm="minibatch", batch_size=70, max_iter=3,
                        random_state=0, max_no_improvement=None, checkpoint_every=4,
                        checkpoint_path={str(checkpoint_path)!r}).fit(np.load({str(data_path)!r}))
    """)
    result = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["X.npy", "fit.npz"]
    reference = fit_quietly(estimator(), X)
    resumed = fit_quietly(estimator(checkpoint_path=checkpoint_path), X)
    assert_identical_fits(resumed, reference)


def test_finished_checkpoint_gives_its_result_without_updates(blobs, tmp_path):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    first = fit_quietly(estimator(checkpoint_path=path), X)
    with ComputeCounter() as counter:
        again = fit_quietly(estimator(checkpoint_path=path), X)
    assert counter.count == 0
    assert_identical_fits(again, first)


def test_raising_max_iter_continues_a_finished_fit(blobs, tmp_path):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    fit_quietly(estimator(checkpoint_path=path, max_iter=1), X)
    continued = fit_quietly(estimator(checkpoint_path=path, max_iter=3), X)
    assert_identical_fits(continued, fit_quietly(estimator(max_iter=3), X))


@pytest.mark.parametrize("change, name", [
    ({"batch_size": 80}, "batch_rows"),
    ({"step_decay": 0.9}, "step_decay"),
    ({"covariance_type": "diag"}, "covariance_type"),
    ({"reg_covar": 1e-3}, "reg_covar"),
])
def test_resuming_with_other_settings_is_an_error(blobs, tmp_path, change, name):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    fit_quietly(estimator(checkpoint_path=path, max_iter=1), X)
    with pytest.raises(ValueError, match=f"other settings.*{name}.*delete the file"):
        estimator(checkpoint_path=path, **change).fit(X)
    with pytest.raises(ValueError, match="n_samples"):
        estimator(checkpoint_path=path).fit(X[:-1])


def test_checkpoint_is_written_atomically(blobs, tmp_path, monkeypatch):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    fit_quietly(estimator(checkpoint_path=path, max_iter=1), X)
    before = path.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"half a checkpoint")
        raise Killed

    monkeypatch.setattr(_checkpoint.np, "savez", broken_savez)
    with pytest.raises(Killed):
        fit_quietly(estimator(checkpoint_path=path, max_iter=2), X)
    # the old checkpoint is intact and no temporary file is left behind
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["fit.npz"]


def test_checkpoint_holds_no_pickle(blobs, tmp_path):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    fit_quietly(estimator(checkpoint_path=path, max_iter=1), X)
    with np.load(path, allow_pickle=False) as f:
        assert all(f[name].dtype != object for name in f.files)


def test_not_a_checkpoint_is_a_clear_error(blobs, tmp_path):
    X, _ = blobs
    path = tmp_path / "fit.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable daskmix checkpoint"):
        estimator(checkpoint_path=path).fit(X)


@pytest.mark.parametrize("params, match", [
    ({"algorithm": "em"}, "algorithm='minibatch'"),
    ({"n_init": 2}, "n_init=1"),
])
def test_checkpoints_need_one_minibatch_initialisation(blobs, tmp_path, params, match):
    X, _ = blobs
    with pytest.raises(ValueError, match=match):
        estimator(checkpoint_path=tmp_path / "fit.npz", **params).fit(X)


def test_checkpoint_directory_must_exist(blobs, tmp_path):
    X, _ = blobs
    with pytest.raises(ValueError, match="does not exist"):
        estimator(checkpoint_path=tmp_path / "missing" / "fit.npz").fit(X)
