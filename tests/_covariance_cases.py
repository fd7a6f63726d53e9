"""Covariance types for the tests that loop over the registry, and their settings.

``factor`` needs a setting (``n_factors``) and has no scikit-learn
counterpart, and its statistics cannot be pooled across parameters (no
stepwise EM), so registry-wide tests choose one of these lists.
"""

from __future__ import annotations

from daskmix.mixture.algorithms import ALGORITHMS
from daskmix.mixture.covariance import COVARIANCE_TYPES

#: Every registered type.
ALL_TYPES = sorted(COVARIANCE_TYPES)
#: The types scikit-learn's GaussianMixture has (tests comparing with it).
SKLEARN_TYPES = sorted(set(COVARIANCE_TYPES) & {"full", "tied", "diag", "spherical"})
#: The types stepwise EM (``algorithm="minibatch"``, ``partial_fit``) can fit.
STEPWISE_TYPES = sorted(ALGORITHMS["minibatch"].covariance_types)


def covariance_settings(covariance_type):
    """Constructor settings for ``covariance_type``.

    ``"factor"`` gets ``n_factors=1`` and ``max_iter=300``: EM for factor
    analysers converges slowly where a noise variance heads for zero (the
    three-feature blobs take up to about 150 iterations).

    Parameters
    ----------
    covariance_type : str

    Returns
    -------
    dict
    """
    settings = {"covariance_type": covariance_type}
    if covariance_type == "factor":
        settings.update(n_factors=1, max_iter=300)
    return settings
