"""Model files of covariance_type="factor": the factor parameters come back exactly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import daskmix
from daskmix import GaussianMixture
from daskmix._model_io import model_to_dataset
from tests.model_io._support import assert_same_state


def factor_rows(dtype):
    rng = np.random.RandomState(0)
    loadings = rng.randn(2, 5, 2)
    labels = rng.randint(0, 2, size=400)
    X = (np.array([[0.0] * 5, [6.0] * 5])[labels]
         + np.einsum("nh,ndh->nd", rng.randn(400, 2), loadings[labels])
         + 0.5 * rng.randn(400, 5))
    return X.astype(dtype)


def fit(X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(2, covariance_type="factor", n_factors=2, random_state=0,
                               **kwargs).fit(X)


def test_file_names_the_factor_axis():
    gm = fit(factor_rows(np.float64), max_iter=5)
    dataset = model_to_dataset(gm)
    assert dataset["loadings_"].dims == ("component", "feature", "factor")
    assert dataset["noise_variance_"].dims == ("component", "feature")
    assert dataset.sizes["factor"] == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loaded_model_warm_starts_exactly_like_the_saved_one(tmp_path, dtype):
    X = factor_rows(dtype)
    gm = fit(X, max_iter=5, tol=0.0, warm_start=True)
    gm.save(tmp_path / "model.nc")
    loaded = daskmix.load(tmp_path / "model.nc")
    assert_same_state(gm, loaded)
    assert loaded.loadings_.dtype == dtype
    for model in (gm, loaded):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
    assert_same_state(gm, loaded)
    assert_array_equal(loaded.score_samples(X), gm.score_samples(X))
