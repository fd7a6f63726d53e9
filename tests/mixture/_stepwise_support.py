"""Helpers shared by the mini-batch, partial_fit and checkpoint tests."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def labelled_init(X, y, covariance_type):
    """``weights_init``, ``means_init`` and ``precisions_init`` from known labels.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of int, shape (n_samples,)
        Labels ``0 .. n_components - 1``.
    covariance_type : str

    Returns
    -------
    dict
        Keyword arguments for ``GaussianMixture``.
    """
    classes = np.unique(y)
    weights = np.array([np.mean(y == k) for k in classes])
    means = np.array([X[y == k].mean(axis=0) for k in classes])
    covs = np.array([np.cov(X[y == k].T, bias=True) for k in classes])
    if covariance_type == "full":
        precisions = np.linalg.inv(covs)
    elif covariance_type == "tied":
        precisions = np.linalg.inv(np.tensordot(weights, covs, axes=1))
    elif covariance_type == "diag":
        precisions = 1.0 / np.diagonal(covs, axis1=1, axis2=2)
    else:
        precisions = 1.0 / np.diagonal(covs, axis1=1, axis2=2).mean(axis=1)
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def assert_same_model(a, b, rtol=1e-10):
    """Fitted parameters of ``a`` and ``b`` agree to ``rtol``."""
    for name in FITTED:
        expected = getattr(b, name)
        assert_allclose(getattr(a, name), expected, rtol=rtol,
                        atol=rtol * np.max(np.abs(expected)), err_msg=name)


def fit_quietly(estimator, X, **kwargs):
    """``estimator.fit(X)`` without the ConvergenceWarning of a capped run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, **kwargs)
