"""What a ``MiniBatchKMeans`` model file holds.

The centres, the counts and private settings ``partial_fit`` continues
from, and the random stream it keeps drawing from.
"""

from __future__ import annotations

from daskmix._model_io import Array, ModelSchema, RandomStream, Value
from daskmix._state import INPUT_FIELDS

__all__ = ["MINIBATCH_KMEANS_FILE"]

#: The model file of :class:`~daskmix.MiniBatchKMeans`.
MINIBATCH_KMEANS_FILE = ModelSchema(
    fields=(
        *INPUT_FIELDS,
        Array("cluster_centers_", ("cluster", "feature")),
        Array("labels_", ("sample",), optional=True),
        Array("_counts", ("cluster",)),
        Value("inertia_"), Value("n_iter_"), Value("n_steps_"),
        Value("_n_since_last_reassign"), Value("_tol"), Value("_batch_size"),
        Value("_init_size"), Value("_n_init"), Value("_n_features_out"),
        RandomStream("_random_state"),
    ),
    sizes=lambda est: {"cluster": est.n_clusters},
    run_parameters=frozenset({"verbose", "split_every"}),  # how a fit is shown and scheduled
)
