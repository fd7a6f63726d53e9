"""Named axes of covariance parameters, learnt from the registry, and full matrices."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.stats import multivariate_normal

from daskmix import GaussianMixture
from daskmix.mixture._dims import shape_dims
from daskmix.mixture.covariance import COVARIANCE_TYPES, get_covariance_type
from tests._covariance_cases import covariance_settings


@pytest.mark.parametrize("covariance_type", sorted(COVARIANCE_TYPES))
def test_dims_name_every_axis_of_the_parameters(covariance_type):
    covariance = get_covariance_type(covariance_type, n_factors=2)
    dims = shape_dims(covariance.parameter_shape)
    shape = covariance.parameter_shape(4, 4)  # equal sizes: the names must not guess from sizes
    assert len(dims) == len(shape)
    sizes = {"component": 3, "feature": 6, "feature2": 6}
    assert covariance.parameter_shape(3, 6) == tuple(sizes[d] for d in dims)


@pytest.mark.parametrize("covariance_type", sorted(COVARIANCE_TYPES))
def test_dense_covariances_give_the_model_density(blobs, covariance_type):
    """scipy's density with the expanded matrices is the model's own score_samples."""
    X, _ = blobs
    gm = GaussianMixture(3, random_state=0, **covariance_settings(covariance_type)).fit(X)
    dense = gm._covariance.dense_covariances(gm.covariances_, 3, X.shape[1])
    assert dense.shape == (3, X.shape[1], X.shape[1])
    density = sum(w * multivariate_normal(m, c).pdf(X)
                  for w, m, c in zip(gm.weights_, gm.means_, dense))
    assert_allclose(np.log(density), gm.score_samples(X), rtol=1e-9)


def test_unknown_axes_are_named_by_position():
    class Packed:
        @staticmethod
        def parameter_shape(n_components, n_features):
            return (n_components, n_features, 2)

    assert shape_dims(Packed.parameter_shape) == ("component", "feature", "axis2")
