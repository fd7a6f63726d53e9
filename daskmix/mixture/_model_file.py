"""What a ``GaussianMixture`` model file holds.

The fitted attributes over named dimensions (the covariance type decides
the shape of its parameters), the fitted scalars, and the running state of
stepwise EM, so that a loaded model continues ``partial_fit`` exactly.
"""

from __future__ import annotations

from daskmix._model_io import Array, Group, ModelSchema, Nested, Transient, Value
from daskmix._state import INPUT_FIELDS
from daskmix.mixture._dims import shape_dims
from daskmix.mixture._params import GaussianParams
from daskmix.mixture.algorithms.stepwise import StepwiseState
from daskmix.mixture.algorithms.truncated_inference import SearchCache
from daskmix.mixture.covariance import get_covariance_type

__all__ = ["GAUSSIAN_MIXTURE_FILE", "MIXTURE_FIELDS"]

_C = ("component",)
_CF = ("component", "feature")


def _covariance_dims(params):
    """Dimensions of the covariance parameters for ``params["covariance_type"]``.

    Parameters
    ----------
    params : dict
        Constructor parameters.

    Returns
    -------
    tuple of str
    """
    return shape_dims(get_covariance_type(params["covariance_type"], **params).parameter_shape)


def _second_moment_dims(params):
    """Dimensions of the second-moment statistic for ``params["covariance_type"]``.

    Parameters
    ----------
    params : dict
        Constructor parameters.

    Returns
    -------
    tuple of str
    """
    return shape_dims(get_covariance_type(params["covariance_type"], **params).second_moment_shape)


#: The running state of stepwise EM (``algorithm="minibatch"`` and ``partial_fit``).
_STEPWISE_STATE = Nested(
    "_stepwise_state", StepwiseState, prefix="state_stepwise_",
    parts={
        "params": Group(GaussianParams, {
            "weights": _C, "means": _CF,
            "covariances": _covariance_dims, "prec_chol": _covariance_dims,
        }),
        "shift": ("feature",),
        "stats": Group(dict, {"nk": _C, "sy": _CF, "s2": _second_moment_dims}, optional=True),
    },
)

#: The fields every mixture's model file holds: the input's description,
#: the Gaussian parameters and the fit's record.
MIXTURE_FIELDS = (
    *INPUT_FIELDS,
    Array("weights_", _C), Array("means_", _CF),
    Array("covariances_", _covariance_dims),
    Array("precisions_", _covariance_dims),
    Array("precisions_cholesky_", _covariance_dims),
    Array("classes_", _C),
    Array("lower_bounds_", ("iteration",), kind="list"),
    Value("converged_"), Value("n_iter_"), Value("lower_bound_"),
)

#: The model file of :class:`~daskmix.GaussianMixture`.
GAUSSIAN_MIXTURE_FILE = ModelSchema(
    fields=(
        *MIXTURE_FIELDS,
        Value("n_steps_", optional=True), Value("n_samples_seen_", optional=True),
        # algorithm="truncated" only
        Array("n_evaluations_", ("iteration",), optional=True),
        Array("neighbors_", ("component", "neighbor"), optional=True),
        # covariance_type="factor" only
        Array("loadings_", ("component", "feature", "factor"), optional=True),
        Array("noise_variance_", _CF, optional=True),
        _STEPWISE_STATE,
        # truncated inference's tree over the means: rebuilt on first use
        Transient("_search_cache", SearchCache),
    ),
    sizes=lambda est: {"component": est.n_components, "factor": est.n_factors},
    added_parameters={"inference": "auto", "covariance_floor": None},
    # how a fit is shown, scheduled and checkpointed: not the model
    run_parameters=frozenset({"progress", "verbose", "verbose_interval", "split_every",
                              "checkpoint_path", "checkpoint_every"}),
)
