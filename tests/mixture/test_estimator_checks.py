"""scikit-learn's estimator contract, on NumPy input, for every covariance type x algorithm.

The pairs come from the two registries: a covariance type or an algorithm
registered later is checked without editing this file (give it settings
below if the checks' small data sets need them).
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import GaussianMixture
from daskmix.mixture.algorithms import ALGORITHMS
from daskmix.mixture.covariance import COVARIANCE_TYPES

#: Settings that make an algorithm valid and cheap on the checks' data sets
#: (``n_components`` stays at its default, 1).
ALGORITHM_SETTINGS = {
    # several mini-batches per pass
    "minibatch": {"batch_size": 16},
    # n_active <= n_components
    "truncated": {"n_active": 1},
}

#: Settings a covariance type needs (the checks' data have 1 feature or more).
COVARIANCE_SETTINGS = {"factor": {"n_factors": 1}}

#: Algorithms whose every fit needs a ``distributed`` client: checked in a
#: second test, inside one in-process client (threads, no worker processes).
NEEDS_CLIENT = frozenset({"async"})

#: Checks a covariance type is expected to fail, with the reason (strict xfails).
EXPECTED_FAILURES = {
    "factor": {
        "check_fit_score_takes_y": "calls partial_fit, which factor analysers do not "
                                   "support (stepwise EM cannot carry their statistics)",
        "check_n_features_in_after_fitting": "calls partial_fit (see above)",
        "check_fit2d_1feature": "one feature allows no factor (n_factors < n_features); "
                                "the error names n_factors, not the check's phrases",
    },
}

#: Checks not run: daskmix makes no array-API claim, and scikit-learn's array-API
#: check only runs when SCIPY_ARRAY_API=1 is exported before SciPy is imported
#: (otherwise it calls pytest.skip, which would leave skipped tests behind).
NOT_APPLICABLE = ("check_array_api_input",)


def checked_estimators(with_client=False):
    """One estimator per supported (covariance type, algorithm) pair, algorithms first.

    Parameters
    ----------
    with_client : bool, default=False
        The pairs of the algorithms that need a ``distributed`` client
        (True), or of the others (False).

    Returns
    -------
    list of GaussianMixture
    """
    return [
        GaussianMixture(covariance_type=covariance_type, algorithm=name, random_state=0,
                        **ALGORITHM_SETTINGS.get(name, {}),
                        **COVARIANCE_SETTINGS.get(covariance_type, {}))
        for name, algorithm in ALGORITHMS.items() if (name in NEEDS_CLIENT) == with_client
        for covariance_type in COVARIANCE_TYPES if algorithm.supports(covariance_type)
    ]


def _checks(estimators):
    """``parametrize_with_checks`` of ``estimators``, less the checks that do not apply."""
    generated = parametrize_with_checks(
        estimators,
        expected_failed_checks=lambda est: EXPECTED_FAILURES.get(est.covariance_type, {}),
    ).mark
    names, params = generated.args
    params = [
        p for p in params
        if not any(name in str(getattr(p, "values", p)) for name in NOT_APPLICABLE)
    ]
    return pytest.mark.parametrize(names, params, **generated.kwargs)


@_checks(checked_estimators())
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@_checks(checked_estimators(with_client=True))
def test_sklearn_compatible_estimator_on_a_client(estimator, check, in_process_client):
    check(estimator)


def test_every_named_algorithm_is_registered():
    assert NEEDS_CLIENT.issubset(ALGORITHMS)
    assert set(ALGORITHM_SETTINGS) <= set(ALGORITHMS)


def test_every_supported_pair_is_checked():
    checked = checked_estimators() + checked_estimators(with_client=True)
    pairs = {(est.covariance_type, est.algorithm) for est in checked}
    assert pairs == {(c, a) for a, algorithm in ALGORITHMS.items()
                     for c in COVARIANCE_TYPES if algorithm.supports(c)}
