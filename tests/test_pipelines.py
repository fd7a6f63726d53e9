"""daskmix estimators inside scikit-learn and dask-ml meta-estimators.

dask-ml is a test-only dependency: these tests check that users who drive
daskmix through its wrappers get the same answers as calling daskmix
directly, and that dask input stays lazy through prediction.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from dask_ml.wrappers import ParallelPostFit
from numpy.testing import assert_allclose
from sklearn.model_selection import GridSearchCV

from daskmix import GaussianMixture

from .conftest import as_dask


def test_grid_search_over_gaussian_mixture_on_numpy(blobs):
    """GridSearchCV scores by GaussianMixture.score and finds the 3 blobs."""
    X, _ = blobs
    search = GridSearchCV(
        GaussianMixture(random_state=0),
        {"n_components": [1, 2, 3], "covariance_type": ["full", "spherical"]},
        cv=3,
    ).fit(X)
    assert search.best_params_["n_components"] == 3
    best = GaussianMixture(random_state=0, **search.best_params_).fit(X)
    assert_allclose(search.best_estimator_.means_, best.means_)


def test_parallel_post_fit_predicts_lazily_like_the_estimator(blobs):
    """ParallelPostFit's predict, predict_proba and score equal daskmix's own."""
    X, _ = blobs
    Xd = as_dask(X, (150,) * 4)
    wrapper = ParallelPostFit(GaussianMixture(3, random_state=0)).fit(X)
    direct = GaussianMixture(3, random_state=0).fit(X)

    labels, proba = wrapper.predict(Xd), wrapper.predict_proba(Xd)
    assert isinstance(labels, da.Array) and isinstance(proba, da.Array)
    assert proba.chunks == ((150,) * 4, (3,))
    np.testing.assert_array_equal(labels.compute(), direct.predict(X))
    assert_allclose(proba.compute(), direct.predict_proba(X), rtol=1e-12)
    assert wrapper.score(Xd, None) == pytest.approx(direct.score(X), rel=1e-12)


def test_classes_are_the_labels_predict_returns(blobs):
    X, _ = blobs
    model = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(model.classes_, np.arange(3))
    assert set(np.unique(model.predict(X))) <= set(model.classes_)
    assert model.predict_proba(X).shape[1] == len(model.classes_)
