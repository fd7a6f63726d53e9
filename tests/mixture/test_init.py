"""``init_params="kmeans"``: the best of several k-means runs on a row sample, against scikit-learn."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from daskmix import GaussianMixture
from daskmix.mixture._init import (
    N_CANDIDATES,
    InitContext,
    _same_partition,
    _sample_loglik,
    sample_size,
)
from daskmix.mixture.covariance import get_covariance_type
from tests.conftest import as_dask

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def overlapping_blobs(n_samples, n_blobs=8, seed=0):
    """Unequal, overlapping 2-D blobs, more of them than the fits' components."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-6, 6, size=(n_blobs, 2))
    scales = rng.uniform(0.5, 1.5, size=(n_blobs, 2))
    labels = rng.choice(n_blobs, size=n_samples, p=rng.dirichlet(np.full(n_blobs, 3.0)))
    return centres[labels] + rng.randn(n_samples, 2) * scales[labels]


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_default_ends_at_least_as_high_as_scikit_learn(covariance_type):
    """Median final lower bound over 7 seeds of both defaults, 8 blobs fitted by 4 components."""
    X = overlapping_blobs(3000)
    seeds = range(7)
    ours = [GaussianMixture(4, covariance_type=covariance_type, random_state=s).fit(X)
            for s in seeds]
    theirs = [SkGaussianMixture(4, covariance_type=covariance_type, random_state=s).fit(X)
              for s in seeds]
    ours_ll = statistics.median(gm.lower_bound_ for gm in ours)
    theirs_ll = statistics.median(gm.lower_bound_ for gm in theirs)
    assert ours_ll >= theirs_ll - 1e-4 * abs(theirs_ll)


@pytest.mark.parametrize("covariance_type", ["diag", "full", "tied", "spherical"])
def test_sample_loglik_is_scikit_learns_score_of_the_partition_model(covariance_type):
    """The selection criterion: the sample's score under the k-means partition's mixture."""
    X = overlapping_blobs(800)
    centres = KMeans(4, n_init=1, random_state=0).fit(X).cluster_centers_
    labels = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    resp = np.eye(4)[labels]
    # the mixture scikit-learn's init_params="kmeans" makes from these labels,
    # read back after zero EM iterations' worth of change: its first E-step
    reference = SkGaussianMixture(4, covariance_type=covariance_type, max_iter=1)
    reference._initialize(X, resp)
    covariance = get_covariance_type(covariance_type)
    ctx = InitContext(X, None, 4, covariance, reference.reg_covar, None)
    assert_allclose(_sample_loglik(ctx, X, None, centres), reference.score(X), rtol=1e-10)


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_start_scores_above_the_median_scikit_learn_start(covariance_type):
    """The best of N_CANDIDATES runs by the initial model's score beats a typical single run.

    On data no larger than the row sample each candidate is scikit-learn's
    own k-means start, so the chosen one scores at least the median of
    scikit-learn's starts over many seeds (the median of one draw is below
    the best of five with probability 1 - 2**-5).
    """
    X = overlapping_blobs(1500)
    assert sample_size(len(X), 4) == len(X)  # the sample is the whole data set here
    start = GaussianMixture(4, covariance_type=covariance_type, random_state=3,
                            max_iter=0).fit(X)
    initial = []
    for seed in range(3 * N_CANDIDATES):
        other = SkGaussianMixture(4, covariance_type=covariance_type, random_state=seed)
        other._check_parameters(X)
        other._initialize_parameters(X, np.random.RandomState(seed))
        initial.append(other.score(X))
    assert start.score(X) >= np.median(initial)


def test_chunking_does_not_change_the_start_on_data_larger_than_the_sample():
    X = overlapping_blobs(12_000)
    assert sample_size(len(X), 4) < len(X)
    starts = [
        GaussianMixture(4, covariance_type="full", random_state=0, max_iter=0).fit(data)
        for data in (X, as_dask(X, (12_000,)), as_dask(X, (5000, 0, 5000, 2000)),
                     as_dask(X, (3001,) * 3 + (2997,)))
    ]
    for other in starts[1:]:
        for name in ("weights_", "means_", "covariances_"):
            assert_allclose(getattr(other, name), getattr(starts[0], name), rtol=1e-10,
                            atol=1e-12, err_msg=name)


def test_same_partition_ignores_centre_order_and_a_few_boundary_rows():
    rng = np.random.RandomState(0)
    labels = rng.randint(4, size=1000)
    weights = np.ones(1000)
    renamed = np.array([2, 0, 3, 1])[labels]
    assert _same_partition(labels, renamed, weights, 4)
    moved = renamed.copy()
    moved[:5] = (moved[:5] + 1) % 4  # 0.5% of the rows on another cluster
    assert _same_partition(labels, moved, weights, 4)
    moved[:6] = (renamed[:6] + 1) % 4
    assert not _same_partition(labels, moved, weights, 4)
    weights[:6] = 0.5  # the same six rows now weigh 0.3% of the sample
    assert _same_partition(labels, moved, weights, 4)
    merged = np.where(labels == 3, 2, labels)  # two clusters in one, one left empty
    assert not _same_partition(labels, merged, np.ones(1000), 4)
