"""MiniBatchKMeans: quality against scikit-learn, invariances, laziness, validation."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dask.utils import key_split
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans
from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import euclidean_distances
from sklearn.utils._param_validation import InvalidParameterError

from daskmix import MiniBatchKMeans
from daskmix.cluster._minibatch_kmeans import FIRST_ROUND_STEPS, ROUND_ELEMENTS
from tests.conftest import CHUNK_LAYOUTS, N_COMPONENTS, ComputeCounter, as_dask

INITS = ["k-means++", "k-means||", "random"]


@pytest.fixture(scope="module")
def separated():
    """8 well-separated blobs, 6,000 rows in 6 features, and a ragged dask copy."""
    X, y = make_blobs(6000, n_features=6, centers=8, cluster_std=1.0,
                      center_box=(-20, 20), random_state=3)
    return X, y, da.from_array(X, chunks=((1000, 2500, 7, 1493, 1000), (6,)))


def exact_inertia(X, centres, sample_weight=None):
    """Reference inertia in NumPy: weighted squared distance to the nearest centre."""
    d2 = euclidean_distances(X, centres, squared=True).min(axis=1)
    return float(d2 @ (np.ones(len(X)) if sample_weight is None else sample_weight))


def n_rounds(n_steps, batch_size, n_features):
    """Computes of mini-batch steps the estimator documents for ``n_steps`` steps."""
    cap = max(1, ROUND_ELEMENTS // (batch_size * n_features))
    size, done, rounds = min(FIRST_ROUND_STEPS, cap), 0, 0
    while done < n_steps:
        done += size
        rounds += 1
        size = min(2 * size, cap)
    return rounds


# ---- quality --------------------------------------------------------------------


@pytest.mark.parametrize("init", ["k-means++", "k-means||"])
def test_inertia_within_two_percent_of_kmeans(separated, init):
    X, y, Xd = separated
    km = MiniBatchKMeans(8, init=init, batch_size=256, random_state=0).fit(Xd)
    reference = KMeans(8, n_init=3, random_state=0).fit(X)
    assert km.inertia_ <= 1.02 * reference.inertia_
    assert_allclose(km.inertia_, exact_inertia(X, km.cluster_centers_), rtol=1e-10)
    assert adjusted_rand_score(y, km.predict(Xd).compute()) > 0.99


def test_as_good_as_scikit_learn_minibatch(separated):
    """Same parameters, different random draws: inertia as good as scikit-learn's."""
    X, _, Xd = separated
    ours = [MiniBatchKMeans(8, batch_size=128, random_state=s).fit(Xd).inertia_
            for s in range(3)]
    theirs = [SkMiniBatchKMeans(8, batch_size=128, random_state=s).fit(X).inertia_
              for s in range(3)]
    assert np.median(ours) <= 1.02 * np.median(theirs)


# ---- invariances ----------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("init", INITS)
def test_same_result_whatever_the_chunking(blobs, init, weighted):
    X, _ = blobs
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X)) if weighted else None
    fits = []
    for chunks in CHUNK_LAYOUTS.values():
        wd = None if w is None else da.from_array(w, chunks=(chunks,))
        fits.append(MiniBatchKMeans(N_COMPONENTS, init=init, batch_size=20, max_iter=3,
                                    max_no_improvement=50, random_state=5)
                    .fit(as_dask(X, chunks), sample_weight=wd))
    first = fits[0]
    assert first.n_steps_ > 2 * FIRST_ROUND_STEPS  # several computes of steps
    for other in fits[1:]:
        assert_allclose(other.cluster_centers_, first.cluster_centers_, rtol=1e-12)
        assert other.n_steps_ == first.n_steps_
        assert other.n_iter_ == first.n_iter_
        assert_allclose(other.inertia_, first.inertia_, rtol=1e-10)


def test_numpy_and_dask_input_give_the_same_fit(blobs):
    X, _ = blobs
    a = MiniBatchKMeans(N_COMPONENTS, batch_size=64, random_state=1).fit(X)
    b = MiniBatchKMeans(N_COMPONENTS, batch_size=64, random_state=1).fit(as_dask(X, (150,) * 4))
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    assert_array_equal(a.labels_, b.predict(X))


def test_weights_matter_only_relatively(blobs):
    X, _ = blobs
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    a = MiniBatchKMeans(N_COMPONENTS, batch_size=64, random_state=1).fit(X, sample_weight=w)
    b = MiniBatchKMeans(N_COMPONENTS, batch_size=64, random_state=1).fit(X, sample_weight=4 * w)
    assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-10)
    assert_allclose(b.inertia_, 4 * a.inertia_, rtol=1e-10)
    assert_allclose(a.inertia_, exact_inertia(X, a.cluster_centers_, w), rtol=1e-10)


def test_zero_weight_rows_are_ignored(separated):
    """Rows of weight 0 (here: two whole blobs) attract no centre."""
    X, y, _ = separated
    w = np.where(np.isin(y, [0, 1]), 0.0, 1.0)
    km = MiniBatchKMeans(6, random_state=0, batch_size=256).fit(X, sample_weight=w)
    far = euclidean_distances(km.cluster_centers_, X[w > 0]).min(axis=1)
    assert far.max() < 3.0
    assert_allclose(km.inertia_, exact_inertia(X, km.cluster_centers_, w), rtol=1e-10)


# ---- scikit-learn's update rule, step for step -----------------------------------


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_follows_scikit_learn_step_for_step(separated, kind, weighted, capsys):
    """Same batches, same seed: the same centres, weights, reassignments and inertia."""
    X, _, _ = separated
    w = np.random.RandomState(0).uniform(0, 2, len(X)) if weighted else None
    params = dict(n_clusters=12, batch_size=100, random_state=3, reassignment_ratio=0.5)
    theirs, ours = SkMiniBatchKMeans(**params), MiniBatchKMeans(verbose=1, **params)
    for start in range(0, 2000, 100):
        batch = X[start:start + 100]
        batch_weight = None if w is None else w[start:start + 100]
        theirs.partial_fit(batch, sample_weight=batch_weight)
        ours.partial_fit(batch if kind == "numpy" else da.from_array(batch, chunks=37),
                         sample_weight=batch_weight)
        assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)
        assert_allclose(ours._counts, theirs._counts, rtol=1e-10)
        assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-10)
    assert ours.n_steps_ == theirs.n_steps_ == 20
    assert "Reassigning" in capsys.readouterr().out  # the reassignments were exercised
    if kind == "numpy":
        assert_array_equal(ours.labels_, theirs.labels_)
    else:
        assert not hasattr(ours, "labels_")


def test_partial_fit_after_fit_continues(blobs):
    X, _ = blobs
    km = MiniBatchKMeans(N_COMPONENTS, batch_size=64, random_state=0).fit(X)
    steps = km.n_steps_
    km.partial_fit(X[:100])
    assert km.n_steps_ == steps + 1
    with pytest.raises(ValueError, match="features"):
        km.partial_fit(X[:100, :2])


# ---- stopping and reassignment ---------------------------------------------------


def test_without_early_stopping_all_steps_run(blobs):
    X, _ = blobs
    km = MiniBatchKMeans(N_COMPONENTS, batch_size=64, max_iter=3, max_no_improvement=None,
                         random_state=0).fit(X)
    assert km.n_steps_ == 3 * len(X) // 64
    assert km.n_iter_ == 3


def test_tol_stops_on_small_centre_changes(blobs):
    X, _ = blobs
    params = dict(batch_size=64, max_iter=50, max_no_improvement=None, random_state=0)
    loose = MiniBatchKMeans(N_COMPONENTS, tol=1e-2, **params).fit(X)
    none = MiniBatchKMeans(N_COMPONENTS, tol=0.0, **params).fit(X)
    assert loose.n_steps_ < none.n_steps_ == 50 * len(X) // 64
    assert loose.n_iter_ == int(np.ceil(loose.n_steps_ * 64 / len(X)))
    # scikit-learn's scale: tol times the mean feature variance, from one pass
    assert_allclose(loose._tol, 1e-2 * np.var(X, axis=0).mean(), rtol=1e-10)


def test_a_stranded_centre_is_reassigned(blobs):
    X, _ = blobs
    start = np.vstack([X[:2], [[1e4, 1e4, 1e4]]])
    km = MiniBatchKMeans(N_COMPONENTS, init=start, batch_size=64, random_state=0).fit(X)
    assert euclidean_distances(km.cluster_centers_, X).min(axis=1).max() < 10
    kept = MiniBatchKMeans(N_COMPONENTS, init=start, batch_size=64, random_state=0,
                           reassignment_ratio=0).fit(X)
    assert_allclose(kept.cluster_centers_[2], start[2])


@pytest.mark.parametrize("weighted", [False, True])
def test_compute_labels_false_estimates_the_inertia(separated, weighted):
    X, _, Xd = separated
    w = np.random.RandomState(0).uniform(0, 4, len(X)) if weighted else None
    km = MiniBatchKMeans(8, batch_size=256, compute_labels=False, random_state=0).fit(
        Xd, sample_weight=w)
    assert not hasattr(km, "labels_")
    exact = exact_inertia(X, km.cluster_centers_, w)
    assert 0.8 * exact < km.inertia_ < 1.25 * exact


# ---- passes over the data ----------------------------------------------------------


@pytest.mark.parametrize("init, seeding", [("k-means++", 1), ("random", 1), ("k-means||", 7)])
def test_compute_budget_of_fit(blobs, init, seeding):
    """Seeding, one compute per group of steps, one for the inertia and labels."""
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    with ComputeCounter() as counter:
        km = MiniBatchKMeans(N_COMPONENTS, init=init, batch_size=20, random_state=0,
                             n_init=1).fit(Xd)
    assert counter.count == seeding + n_rounds(km.n_steps_, 20, X.shape[1]) + 1


def test_n_init_adds_no_compute_for_sample_inits(blobs):
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    with ComputeCounter() as counter:
        km = MiniBatchKMeans(N_COMPONENTS, init="random", n_init=5, batch_size=20,
                             random_state=0).fit(Xd)
    assert counter.count == 1 + n_rounds(km.n_steps_, 20, X.shape[1]) + 1


def test_large_batches_are_gathered_within_the_budget():
    """Each compute gathers at most ROUND_ELEMENTS elements (and at least one batch)."""
    X = np.random.RandomState(0).randn(3000, 4)
    km = MiniBatchKMeans(3, batch_size=3000, max_iter=4, max_no_improvement=None,
                         random_state=0)
    with ComputeCounter() as counter:
        km.fit(as_dask(X, (1000,) * 3))
    assert km.n_steps_ == 4
    assert counter.count == 1 + n_rounds(4, 3000, 4) + 1


def test_partial_fit_on_dask_reads_the_batch_once(blobs):
    X, _ = blobs
    km = MiniBatchKMeans(N_COMPONENTS, batch_size=64, random_state=0, reassignment_ratio=0,
                         compute_labels=False).fit(X)
    with ComputeCounter() as counter:
        km.partial_fit(as_dask(X, (150,) * 4))
    assert counter.count == 1


# ---- outputs follow the input --------------------------------------------------------


def test_dask_in_lazy_dask_out(separated):
    X, _, Xd = separated
    km = MiniBatchKMeans(8, random_state=0).fit(Xd)
    assert not hasattr(km, "labels_")
    with ComputeCounter() as counter:
        labels = km.predict(Xd)
        distances = km.transform(Xd)
    assert counter.count == 0
    assert isinstance(labels, da.Array) and isinstance(distances, da.Array)
    assert labels.chunks[0] == distances.chunks[0] == Xd.chunks[0]
    assert key_split(labels.name) == "daskmix-kmeans-predict"
    assert key_split(distances.name) == "daskmix-kmeans-transform"
    assert labels.dtype == np.int32
    assert_array_equal(labels.compute(), km.predict(X))
    assert_allclose(distances.compute(), euclidean_distances(X, km.cluster_centers_),
                    rtol=1e-9, atol=1e-9)
    assert_array_equal(labels.compute(), distances.compute().argmin(axis=1))


def test_fit_predict_is_lazy_on_dask_and_labels_on_numpy(blobs):
    X, _ = blobs
    km = MiniBatchKMeans(N_COMPONENTS, random_state=0)
    lazy = km.fit_predict(as_dask(X, (150,) * 4))
    assert isinstance(lazy, da.Array)
    eager = km.fit_predict(X)
    assert isinstance(eager, np.ndarray)
    assert_array_equal(eager, km.labels_)
    assert_array_equal(lazy.compute(), eager)
    km.fit(as_dask(X, (150,) * 4))
    assert not hasattr(km, "labels_")  # no stale labels from the NumPy fit


def test_score_is_minus_the_inertia(separated):
    X, _, Xd = separated
    w = np.random.RandomState(0).uniform(0, 2, len(X))
    km = MiniBatchKMeans(8, random_state=0).fit(Xd)
    score = km.score(Xd, sample_weight=w)
    assert isinstance(score, float)
    assert_allclose(score, -exact_inertia(X, km.cluster_centers_, w), rtol=1e-10)
    assert_allclose(km.score(X), -km.inertia_, rtol=1e-10)


@pytest.mark.parametrize("lazy", [False, True])
def test_xarray_in_xarray_out(blobs, lazy):
    X, _ = blobs
    times = pd.date_range("2026-01-01", periods=len(X), freq="h")
    arr = xr.DataArray(X, dims=("time", "band"), coords={"time": times})
    if lazy:
        arr = arr.chunk({"time": 200})
    km = MiniBatchKMeans(N_COMPONENTS, random_state=0).fit(arr)
    assert hasattr(km, "labels_") != lazy
    labels = km.predict(arr)
    assert labels.dims == ("time",)
    assert_array_equal(labels["time"], times)
    distances = km.transform(arr)
    assert distances.dims == ("time", "cluster")
    assert_array_equal(distances["cluster"], np.arange(N_COMPONENTS))
    assert isinstance(distances.data, da.Array) == lazy
    assert_array_equal(labels.values, km.predict(X))


def test_pandas_keeps_feature_names(blobs):
    X, _ = blobs
    df = pd.DataFrame(X, columns=["a", "b", "c"])
    km = MiniBatchKMeans(N_COMPONENTS, random_state=0).fit(df)
    assert_array_equal(km.feature_names_in_, ["a", "b", "c"])
    assert_array_equal(km.get_feature_names_out(),
                       [f"minibatchkmeans{i}" for i in range(N_COMPONENTS)])
    with pytest.raises(ValueError, match="feature names"):
        km.predict(df.rename(columns={"a": "z"}))


@pytest.mark.parametrize("init", ["k-means++", "k-means||"])
def test_float32_stays_float32(blobs, init):
    X, _ = blobs
    X32 = X.astype(np.float32)
    km = MiniBatchKMeans(N_COMPONENTS, init=init, random_state=0).fit(as_dask(X32, (200,) * 3))
    assert km.cluster_centers_.dtype == np.float32
    assert km.transform(X32).dtype == np.float32
    reference = MiniBatchKMeans(N_COMPONENTS, init=init, random_state=0).fit(X)
    assert_allclose(np.sort(km.cluster_centers_, axis=0),
                    np.sort(reference.cluster_centers_, axis=0), rtol=1e-3)


def test_every_task_is_named_daskmix(blobs):
    X, _ = blobs
    Xd = da.from_array(X, chunks=(150, 3), name="user-data")
    names = set()

    class Recorder(dask.callbacks.Callback):
        def _start(self, dsk):
            names.update(key_split(k) for k in dsk)

    with Recorder():
        km = MiniBatchKMeans(N_COMPONENTS, init="k-means||", tol=1e-4, random_state=0)
        km.fit(Xd, sample_weight=da.ones(len(X), chunks=150))
        km.partial_fit(Xd)
        km.predict(Xd).compute()
        km.transform(Xd).compute()
        km.score(Xd)
    ours = {n for n in names if n not in {"user-data", "ones_like"}
            and not n.startswith("finalize-")}
    assert all(n.startswith("daskmix-") or "-daskmix-" in n for n in ours), ours
    for expected in ("daskmix-kmeans-parallel-first", "daskmix-kmeans-parallel-round",
                     "daskmix-kmeans-parallel-weights", "daskmix-take-rows",
                     "daskmix-kmeans-summary", "daskmix-kmeans-inertia",
                     "daskmix-kmeans-minibatch", "daskmix-kmeans-predict",
                     "daskmix-kmeans-transform", "daskmix-kmeans-score"):
        assert any(n.startswith(expected) for n in names), expected


def test_threads_and_processes_give_the_sync_result(separated, process_cluster_client):
    """The fit is the same on the threaded scheduler and on distributed worker processes."""
    _, _, Xd = separated
    w = da.ones(Xd.shape[0], chunks=(Xd.chunks[0],))

    def fit():
        return MiniBatchKMeans(8, init="k-means||", batch_size=256, random_state=0).fit(
            Xd, sample_weight=w)

    reference = fit()
    with dask.config.set(scheduler="threads"):
        threaded = fit()
    with dask.config.set(scheduler=process_cluster_client):
        distributed = fit()
        labels = distributed.predict(Xd).compute()
    for other in (threaded, distributed):
        assert_allclose(other.cluster_centers_, reference.cluster_centers_, rtol=1e-12)
        assert other.n_steps_ == reference.n_steps_
    assert_array_equal(labels, reference.predict(Xd).compute())


# ---- validation -------------------------------------------------------------------------


def test_nan_raises_and_leaves_the_fit_unchanged(blobs):
    X, _ = blobs
    km = MiniBatchKMeans(N_COMPONENTS, random_state=0).fit(X)
    centres = km.cluster_centers_.copy()
    bad = X.copy()
    bad[321, 0] = np.inf
    for init in INITS:
        with pytest.raises(ValueError, match="NaN or infinity"):
            km.set_params(init=init).fit(as_dask(bad, (150,) * 4))
        assert_array_equal(km.cluster_centers_, centres)
    with pytest.raises(ValueError, match="NaN or infinity"):
        km.predict(as_dask(bad, (150,) * 4)).compute()


def test_more_clusters_than_samples(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=8"):
        MiniBatchKMeans(8).fit(as_dask(X[:5], (2, 3)))


def test_feature_mismatch(blobs):
    X, _ = blobs
    km = MiniBatchKMeans(N_COMPONENTS, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but MiniBatchKMeans is expecting 3"):
        km.predict(as_dask(X[:, :2], (300, 300)))


@pytest.mark.parametrize("params", [
    dict(batch_size=0), dict(n_clusters=0), dict(init="kmeans"), dict(n_init=0),
    dict(reassignment_ratio=-1), dict(oversampling_factor=0), dict(init_rounds=0),
    dict(split_every=1), dict(max_no_improvement=-1),
])
def test_invalid_parameters(blobs, params):
    X, _ = blobs
    with pytest.raises(InvalidParameterError):
        MiniBatchKMeans(**params).fit(X)


def test_initial_centres_of_the_wrong_shape(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="number of clusters 3"):
        MiniBatchKMeans(3, init=X[:2]).fit(X)
    with pytest.raises(ValueError, match="number of features of the data 3"):
        MiniBatchKMeans(3, init=X[:3, :2]).fit(X)
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        MiniBatchKMeans(3, init=X[:3], n_init=3).fit(X)


def test_callable_init_gets_the_sample(blobs):
    X, _ = blobs
    seen = []

    def first_rows(sample, n_clusters, random_state):
        seen.append(sample.shape)
        return sample[:n_clusters]

    km = MiniBatchKMeans(N_COMPONENTS, init=first_rows, init_size=90, n_init=2,
                         random_state=0).fit(as_dask(X, (150,) * 4))
    assert seen == [(90, 3), (90, 3)]
    assert km.cluster_centers_.shape == (N_COMPONENTS, 3)
