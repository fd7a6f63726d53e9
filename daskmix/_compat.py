"""Version shims and the few private scikit-learn helpers daskmix relies on.

scikit-learn's parameter validation and feature-name bookkeeping are private
APIs; importing them here, and only here, means a scikit-learn release that
moves them breaks one file. Each entry says when it can go.
"""

# Private since scikit-learn 1.2 / 1.6; no public equivalent exists yet.
# Remove when scikit-learn exposes parameter constraints publicly.
from sklearn.base import _fit_context  # noqa: F401
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions  # noqa: F401

# Private since scikit-learn 1.6 (previously BaseEstimator methods).
from sklearn.utils.validation import (  # noqa: F401
    _check_feature_names,
    _check_n_features,
)
