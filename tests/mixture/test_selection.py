"""select_model: a grid of mixtures fitted in lockstep, one compute per iteration."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from daskmix import GaussianMixture
from daskmix.mixture import select_model
from tests.conftest import as_dask
from tests.model_io._support import assert_same_state

GRID = dict(n_components=[1, 2, 3, 4, 5, 6], covariance_type=["full", "spherical"])


@pytest.fixture(scope="module")
def four_blobs():
    """Four well-separated round blobs in three dimensions, as a chunked dask array."""
    X, _ = make_blobs(800, n_features=3, centers=4, cluster_std=0.6, center_box=(-20, 20),
                      random_state=2)
    return X, as_dask(X, (250, 250, 300))


@pytest.mark.parametrize("criterion", ["bic", "aic"])
def test_picks_the_true_number_of_components(four_blobs, criterion):
    _, X = four_blobs
    best, scores = select_model(X, **GRID, criterion=criterion, random_state=0)
    assert best.n_components == 4
    assert scores.loc[scores["selected"], "n_components"].item() == 4
    assert scores[criterion].idxmin() == scores.index[scores["selected"]][0]
    assert scores.attrs["criterion"] == criterion


def test_one_compute_per_lockstep_iteration(four_blobs, compute_counter):
    _, X = four_blobs
    _, scores = select_model(X, **GRID, init_params="random_from_data", random_state=0)
    n_candidates = len(scores)
    # one row gather per candidate's initialisation, one compute per iteration
    # of the slowest candidate for all of them together, one scoring pass
    assert compute_counter.count == n_candidates + scores["n_iter"].max() + 1
    # fitting the candidates one after the other would cost one compute per
    # iteration of each
    assert compute_counter.count < n_candidates + scores["n_iter"].sum()


@pytest.mark.parametrize("n_init", [1, 2])
def test_every_candidate_ends_where_fitting_it_alone_ends(four_blobs, n_init):
    _, X = four_blobs
    grid = dict(n_components=[2, 4], covariance_type=["tied", "full"])
    best, scores = select_model(X, **grid, n_init=n_init, init_params="k-means++",
                                random_state=0)
    for row in scores.itertuples():
        alone = GaussianMixture(row.n_components, covariance_type=row.covariance_type,
                                n_init=n_init, init_params="k-means++",
                                random_state=0).fit(X)
        assert row.n_iter == alone.n_iter_
        assert row.lower_bound == alone.lower_bound_
        assert row.bic == alone.bic(X)
        assert row.aic == alone.aic(X)
        if row.selected:
            assert_same_state(alone, best)


def test_table_layout(four_blobs):
    X, _ = four_blobs
    _, scores = select_model(X, n_components=[3, 4], covariance_type="diag",
                             random_state=0)
    assert list(scores.columns) == ["n_components", "covariance_type", "bic", "aic",
                                    "lower_bound", "n_iter", "converged", "n_parameters",
                                    "selected"]
    assert scores["n_components"].tolist() == [3, 4]
    assert scores["covariance_type"].tolist() == ["diag", "diag"]
    assert scores["selected"].sum() == 1
    assert scores["n_parameters"].tolist() == [3 * 3 * 2 + 2, 4 * 3 * 2 + 3]
    assert scores["converged"].all()


def test_sample_weight_fits_each_candidate_with_weights(four_blobs):
    X, _ = four_blobs
    weights = np.random.RandomState(0).uniform(0.5, 2.0, len(X))
    best, _ = select_model(X, n_components=[4], sample_weight=weights, random_state=0)
    alone = GaussianMixture(4, random_state=0).fit(X, sample_weight=weights)
    assert_same_state(alone, best)


def test_dataframe_and_xarray_inputs_keep_their_labels(four_blobs):
    X, _ = four_blobs
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    best, _ = select_model(frame, n_components=[3, 4], random_state=0)
    assert_array_equal(best.feature_names_in_, ["a", "b", "c"])
    arr = xr.DataArray(X, dims=("obs", "var"), coords={"var": ["a", "b", "c"]})
    best, _ = select_model(arr, n_components=[3, 4], random_state=0)
    labels = best.predict(arr.transpose("var", "obs"))
    assert isinstance(labels, xr.DataArray) and labels.dims == ("obs",)


def test_non_converged_candidates_are_named(four_blobs):
    X, _ = four_blobs
    with pytest.warns(ConvergenceWarning, match=r"did not converge \(.*6 full"):
        select_model(X, n_components=[6], max_iter=1, random_state=0)


def test_converged_grid_does_not_warn(four_blobs):
    X, _ = four_blobs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        select_model(X, n_components=[4], random_state=0)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(criterion="likelihood"), ValueError, "criterion must be 'bic' or 'aic'"),
        (dict(n_components=[2, 2]), ValueError, "distinct values"),
        (dict(n_components=[0, 1]), ValueError, "integers >= 1"),
        (dict(covariance_type=["full", "banana"]), ValueError, "covariance types among"),
        (dict(algorithm="minibatch"), ValueError, "exact EM"),
        (dict(tol=-1.0), ValueError, "tol"),
        (dict(n_components=[1000]), ValueError, "n_samples >= n_components"),
    ],
)
def test_invalid_arguments(four_blobs, kwargs, error, match):
    X, _ = four_blobs
    with pytest.raises(error, match=match):
        select_model(X, **kwargs)


def test_nan_in_the_data_is_reported_once(four_blobs):
    X = four_blobs[0].copy()
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        select_model(X, n_components=[2, 3], init_params="random_from_data", random_state=0)
