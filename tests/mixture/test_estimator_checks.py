"""scikit-learn's estimator contract, on NumPy input."""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from daskmix import GaussianMixture

#: Checks GaussianMixture is expected to fail, with the reason (strict xfails).
EXPECTED_FAILURES = {}

#: Checks not run: daskmix makes no array-API claim, and scikit-learn's array-API
#: check only runs when SCIPY_ARRAY_API=1 is exported before SciPy is imported
#: (otherwise it calls pytest.skip, which would leave skipped tests behind).
NOT_APPLICABLE = ("check_array_api_input",)

_generated = parametrize_with_checks(
    [
        GaussianMixture(random_state=0),
        GaussianMixture(covariance_type="diag", random_state=0),
        # several mini-batches per pass on the checks' small data sets
        GaussianMixture(algorithm="minibatch", batch_size=16, random_state=0),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
).mark
_names, _params = _generated.args
_params = [
    p for p in _params
    if not any(name in str(getattr(p, "values", p)) for name in NOT_APPLICABLE)
]


@pytest.mark.parametrize(_names, _params, **_generated.kwargs)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
