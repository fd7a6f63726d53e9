"""What an ``IncrementalPCA`` model file holds.

The components, the running moments ``partial_fit`` continues from, and the
feature axis of xarray input that ``inverse_transform`` labels its output with.
"""

from __future__ import annotations

from daskmix._model_io import Array, LabelledAxis, ModelSchema, Value
from daskmix._state import INPUT_FIELDS

__all__ = ["INCREMENTAL_PCA_FILE"]

_C = ("component",)

#: The model file of :class:`~daskmix.IncrementalPCA`.
INCREMENTAL_PCA_FILE = ModelSchema(
    fields=(
        *INPUT_FIELDS,
        Array("components_", ("component", "feature")), Array("singular_values_", _C),
        Array("explained_variance_", _C), Array("explained_variance_ratio_", _C),
        Array("noise_variance_", (), kind="scalar"),
        Array("mean_", ("feature",)), Array("var_", ("feature",)),
        Value("n_components_"), Value("n_samples_seen_"), Value("batch_size_"),
        LabelledAxis("_feature_axis"),
    ),
    sizes=lambda est: {"component": est.n_components_},
    run_parameters=frozenset({"split_every"}),  # how a fit is scheduled
)
