"""GaussianMixture.partial_fit: one update per call (NumPy) or per chunk (dask)."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs

from daskmix import GaussianMixture
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, ComputeCounter, as_dask
from tests.mixture._stepwise_support import FITTED, assert_same_model, labelled_init


@pytest.mark.parametrize("algorithm", ["em", "minibatch"])
def test_partial_fit_over_chunks_in_a_fixed_order_is_reproducible(blobs, algorithm):
    X, _ = blobs
    Xd = as_dask(X, CHUNK_LAYOUTS["ragged"])
    a = GaussianMixture(N_COMPONENTS, algorithm=algorithm, random_state=3)
    b = GaussianMixture(N_COMPONENTS, algorithm=algorithm, random_state=3)
    for _ in range(3):
        a.partial_fit(Xd)
        b.partial_fit(Xd)
    for name in FITTED:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.lower_bounds_ == b.lower_bounds_


@pytest.mark.parametrize("layout", ["even", "ragged", "zero-length"])
def test_dask_partial_fit_is_one_numpy_partial_fit_per_chunk(blobs, layout):
    X, y = blobs
    chunks = CHUNK_LAYOUTS[layout]
    init = labelled_init(X, y, "full")
    per_chunk = GaussianMixture(N_COMPONENTS, **init)
    start = 0
    for size in chunks:
        if size:
            per_chunk.partial_fit(X[start:start + size])
        start += size
    with ComputeCounter() as counter:
        whole = GaussianMixture(N_COMPONENTS, **init).partial_fit(as_dask(X, chunks))
    n_chunks = sum(1 for size in chunks if size)
    assert counter.count == n_chunks
    assert whole.n_steps_ == per_chunk.n_steps_ == n_chunks
    assert whole.n_samples_seen_ == len(X)
    assert_same_model(whole, per_chunk)


def test_numpy_partial_fit_is_one_update_and_one_compute(blobs):
    X, y = blobs
    gm = GaussianMixture(N_COMPONENTS, **labelled_init(X, y, "diag"), covariance_type="diag")
    for call in range(1, 4):
        with ComputeCounter() as counter:
            gm.partial_fit(X[: 200 * call])
        assert counter.count == 1
        assert gm.n_steps_ == call
    assert gm.n_samples_seen_ == 200 + 400 + 600
    assert gm.n_iter_ == 3 and len(gm.lower_bounds_) == 3 and not gm.converged_


def test_warmup_holds_the_initial_parameters(blobs):
    X, y = blobs
    init = labelled_init(X, y, "full")
    gm = GaussianMixture(N_COMPONENTS, warmup_size=250, **init)
    gm.partial_fit(X[:100])
    gm.partial_fit(X[100:200])
    # 200 rows < warmup_size: no M-step yet
    assert_allclose(gm.means_, init["means_init"], rtol=1e-15)
    gm.partial_fit(X[200:300])
    assert not np.allclose(gm.means_, init["means_init"], rtol=1e-6)


def test_streaming_batches_approach_exact_em():
    X, _ = make_blobs(8000, n_features=3, centers=4, cluster_std=1.0, random_state=5)
    exact = GaussianMixture(4, random_state=0).fit(X)
    rng = np.random.RandomState(0)
    gm = GaussianMixture(4, random_state=0)
    for _ in range(2):
        for part in np.array_split(rng.permutation(len(X)), 16):
            gm.partial_fit(X[np.sort(part)])
    assert gm.score(X) >= exact.score(X) - 0.005 * abs(exact.score(X))


def test_lower_bound_is_the_batch_loglikelihood_before_the_update(blobs):
    X, y = blobs
    init = labelled_init(X, y, "full")
    gm = GaussianMixture(N_COMPONENTS, **init).partial_fit(X[:300])
    before = GaussianMixture(N_COMPONENTS, **init, max_iter=0).fit(X)
    # max_iter=0 keeps the initial parameters: the ones the first update saw
    assert gm.lower_bound_ == pytest.approx(before.score(X[:300]), rel=1e-10)
    after = gm.score(X[300:])
    gm.partial_fit(X[300:])
    assert gm.lower_bound_ == pytest.approx(after, rel=1e-10)


def test_partial_fit_after_fit_starts_from_the_fitted_model(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, random_state=0, warmup_size=1000).fit(X)
    means = gm.means_.copy()
    gm.partial_fit(X[:100])
    assert_array_equal(gm.means_, means)
    assert gm.n_steps_ == 1 and gm.n_samples_seen_ == 100


def test_first_batch_smaller_than_n_components_is_rejected(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS)
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        gm.partial_fit(X[:2])
    assert not hasattr(gm, "means_")


def test_failed_partial_fit_leaves_the_model_unchanged(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, random_state=0).partial_fit(X[:300])
    state = dict(gm.__dict__)
    bad = X[300:].copy()
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gm.partial_fit(bad)
    assert gm.__dict__.keys() == state.keys()
    for name in FITTED:
        assert_array_equal(getattr(gm, name), state[name])
    assert gm._stepwise_state is state["_stepwise_state"]


def test_other_features_or_components_are_rejected(blobs):
    X, _ = blobs
    gm = GaussianMixture(N_COMPONENTS, random_state=0).partial_fit(X)
    with pytest.raises(ValueError, match="features"):
        gm.partial_fit(X[:, :2])
    gm.set_params(n_components=N_COMPONENTS + 1)
    with pytest.raises(ValueError, match="n_components or covariance_type changed"):
        gm.partial_fit(X)


def test_dask_ml_incremental_drives_partial_fit(blobs):
    from dask_ml.wrappers import Incremental

    X, y = blobs
    init = labelled_init(X, y, "full")
    Xd = as_dask(X, CHUNK_LAYOUTS["even"])
    wrapped = Incremental(GaussianMixture(N_COMPONENTS, **init), shuffle_blocks=False)
    wrapped.fit(Xd)
    direct = GaussianMixture(N_COMPONENTS, **init).partial_fit(Xd)
    assert_same_model(wrapped.estimator_, direct)
    labels = wrapped.predict(Xd)
    assert isinstance(labels, da.Array)
    assert_array_equal(labels.compute(), direct.predict(X))


@pytest.mark.xfail(
    raises=RuntimeError, strict=True,
    reason="dask-ml 2025.1's IncrementalSearchCV calls dask.persist inside its "
           "asynchronous client, which dask 2026.8 refuses ('Attempting to use an "
           "asynchronous Client in a synchronous context'); the same failure as "
           "tests/test_pipelines.py::test_incremental_search_over_minibatch_kmeans",
)
def test_incremental_search_drives_partial_fit(blobs):
    from dask_ml.model_selection import IncrementalSearchCV
    from distributed import Client

    X, _ = blobs
    Xd = as_dask(X, CHUNK_LAYOUTS["even"])
    y = da.zeros(Xd.shape[0], chunks=Xd.chunks[0])
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None):
        search = IncrementalSearchCV(
            GaussianMixture(random_state=0), {"n_components": [1, N_COMPONENTS]},
            n_initial_parameters=2, max_iter=3, random_state=0, decay_rate=None,
        ).fit(Xd, y)
    assert search.best_params_ == {"n_components": N_COMPONENTS}
