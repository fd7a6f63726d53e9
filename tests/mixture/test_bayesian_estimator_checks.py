"""scikit-learn's estimator contract for BayesianGaussianMixture, over its registries.

One estimator per (covariance type with a Wishart family, weight prior,
variational algorithm): a type, prior or algorithm registered later is
checked without editing this file.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import BayesianGaussianMixture
from daskmix.mixture.variational import ALGORITHMS, WEIGHT_PRIORS, WISHART_TYPES

#: Settings that make an algorithm valid on the checks' data sets
#: (``n_components`` stays at its default, 1).
ALGORITHM_SETTINGS = {"minibatch": {"batch_size": 16}, "truncated": {"n_active": 1}}

#: Checks not run: see ``test_estimator_checks.NOT_APPLICABLE``.
NOT_APPLICABLE = ("check_array_api_input",)


def checked_estimators():
    """One estimator per supported (algorithm, covariance type, weight prior).

    Returns
    -------
    list of BayesianGaussianMixture
    """
    return [
        BayesianGaussianMixture(covariance_type=covariance_type, algorithm=name,
                                weight_concentration_prior_type=prior, random_state=0,
                                **ALGORITHM_SETTINGS.get(name, {}))
        for name, algorithm in ALGORITHMS.items()
        for covariance_type in WISHART_TYPES if algorithm.supports(covariance_type)
        for prior in WEIGHT_PRIORS
    ]


def _checks(estimators):
    """``parametrize_with_checks`` of ``estimators``, less the checks that do not apply."""
    generated = parametrize_with_checks(estimators).mark
    names, params = generated.args
    params = [p for p in params
              if not any(name in str(getattr(p, "values", p)) for name in NOT_APPLICABLE)]
    return pytest.mark.parametrize(names, params, **generated.kwargs)


@_checks(checked_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_every_supported_combination_is_checked():
    checked = {(est.algorithm, est.covariance_type, est.weight_concentration_prior_type)
               for est in checked_estimators()}
    assert checked == {(a, c, p) for a, algorithm in ALGORITHMS.items()
                       for c in WISHART_TYPES if algorithm.supports(c) for p in WEIGHT_PRIORS}
