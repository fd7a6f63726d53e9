"""Row-wise outputs of a fitted mixture from each row's truncated search space.

What ``GaussianMixture(inference=...)`` evaluates when it does not take
every component (``kernels.truncated_inference`` does the per-block work):
the search structures built once per fitted model (a k-means tree over the
means, and the neighbourhoods ``g_c``: those of the truncated fit, or
otherwise nearest means from the tree) and the lazy Dask arrays of
``predict``, ``predict_proba`` and ``score_samples``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix._dask import graph as _graph
from daskmix._index import ComponentTree
from daskmix.mixture._params import estep_params
from daskmix.mixture.algorithms.truncated import tree_neighbours
from daskmix.mixture.kernels.pairs import PAIR_EVALUATORS, get_pair_evaluator
from daskmix.mixture.kernels.truncated_inference import (
    SearchInputs,
    chunk_truncated_outputs,
    sparse_meta,
)

__all__ = ["SearchCache", "SearchStructures", "check_searchable", "search_inputs",
           "truncated_outputs"]

#: Seed of the tree's k-means splits: a model's tree, and so its outputs, are reproducible.
_TREE_SEED = 0

#: Layer names of the outputs, after ``daskmix-``.
_LAYERS = {"predict": "gmm-predict-truncated",
           "predict_proba": "gmm-predict-proba-truncated",
           "score_samples": "gmm-score-samples-truncated"}


def check_searchable(covariance_type):
    """Raise unless truncated inference can evaluate ``covariance_type``'s pairs.

    Parameters
    ----------
    covariance_type : str

    Raises
    ------
    ValueError
        Naming the covariance types it supports and ``inference='exact'``.
    """
    if covariance_type not in PAIR_EVALUATORS:
        raise ValueError(
            f"inference='truncated' supports covariance_type in {sorted(PAIR_EVALUATORS)}, "
            f"got covariance_type={covariance_type!r}. Use inference='exact' (or 'auto')."
        )


@dataclass(frozen=True)
class SearchStructures:
    """What truncated inference keeps per fitted model.

    Attributes
    ----------
    tree : ComponentTree
        Over the means.
    neighbours : ndarray of shape (n_components, G), int32
        ``g_c``.
    """

    tree: ComponentTree
    neighbours: np.ndarray

    @classmethod
    def build(cls, means, neighbours, n_neighbors):
        """The tree over ``means``, and ``neighbours`` or, if None, the nearest means'.

        Parameters
        ----------
        means : ndarray of shape (n_components, n_features)
        neighbours : ndarray of shape (n_components, G) or None
            The truncated fit's ``g_c`` (``neighbors_``).
        n_neighbors : int
            ``G`` when ``neighbours`` is None.

        Returns
        -------
        SearchStructures
        """
        means = np.asarray(means, dtype=np.float64)
        tree = ComponentTree.build(means, random_state=_TREE_SEED)
        if neighbours is None:
            neighbours = tree_neighbours(tree, means, int(n_neighbors))
        return cls(tree, np.ascontiguousarray(neighbours, dtype=np.int32))


class SearchCache:
    """One model's :class:`SearchStructures`, kept while the attributes they come from stay.

    The estimator holds one in a private attribute and replaces it on every
    ``fit`` and ``partial_fit``; it also rebuilds when ``means_`` or
    ``neighbors_`` are other objects than those it was built from. A pickle,
    a copy or a loaded model file holds an empty cache (the structures are
    rebuilt on first use), so estimators pickle as small as before. Being
    no part of the model, any two caches compare equal: filling one does
    not change how the estimator compares (scikit-learn's checks compare
    ``__dict__`` before and after ``predict``).
    """

    def __init__(self):
        self._key = None
        self._value = None

    def __reduce__(self):
        return (type(self), ())

    def __eq__(self, other):
        return isinstance(other, SearchCache)

    def __hash__(self):
        return hash(SearchCache)

    def get(self, means, neighbours, n_neighbors):
        """The structures for these attributes, built on first use.

        Parameters
        ----------
        means : ndarray of shape (n_components, n_features)
        neighbours : ndarray or None
        n_neighbors : int

        Returns
        -------
        SearchStructures
        """
        key = (means, neighbours, None if neighbours is not None else int(n_neighbors))
        known = self._key
        if known is None or not (known[0] is key[0] and known[1] is key[1]
                                 and known[2] == key[2]):
            self._value = SearchStructures.build(means, neighbours, n_neighbors)
            self._key = key
        return self._value


def search_inputs(structures, covariance, params, n_active, dtype):
    """What every block of a truncated search receives, for rows of ``dtype``.

    Parameters
    ----------
    structures : SearchStructures
    covariance : CovarianceType
        With a pair evaluator (:func:`check_searchable`).
    params : GaussianParams
    n_active : int
        ``K(n)``'s size (at most ``n_components``).
    dtype : numpy dtype
        Of the rows searched.

    Returns
    -------
    SearchInputs
        For :func:`~daskmix.mixture.kernels.truncated_inference.search_rows`.
    """
    evaluator = get_pair_evaluator(covariance.name)
    kernel_params = estep_params(covariance, params, dtype)
    return SearchInputs(
        covariance=covariance, evaluator=evaluator,
        tables=evaluator.tables(covariance, kernel_params), shift=kernel_params.shift,
        neighbours=structures.neighbours, tree=structures.tree, n_active=int(n_active),
    )


def truncated_outputs(X, structures, covariance, params, n_active, output):
    """Lazy row-wise ``output`` of the model ``params`` from each row's search space.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Floating point, one chunk along features.
    structures : SearchStructures
    covariance : CovarianceType
        With a pair evaluator (:func:`check_searchable`).
    params : GaussianParams
    n_active : int
        ``K(n)``'s size (at most ``n_components``).
    output : {"predict", "predict_proba", "score_samples"}

    Returns
    -------
    dask.array.Array
        ``predict``: (n_samples,) int64; ``score_samples``: (n_samples,) in
        X's dtype; ``predict_proba``: (n_samples, n_components) in X's
        dtype, of ``sparse.COO`` blocks.
    """
    inputs = search_inputs(structures, covariance, params, n_active, X.dtype)
    # one node of the graph: the parameters, tree and neighbourhoods reach
    # each worker once, not with every task
    inputs = _graph.shared(inputs, "truncated-search-inputs")
    name = _LAYERS[output]
    if output == "predict_proba":
        n_components = structures.neighbours.shape[0]
        return _graph.map_rows(X, chunk_truncated_outputs, name=name, n_columns=n_components,
                               dtype=X.dtype, meta=sparse_meta(X.dtype), inputs=inputs,
                               what=output)
    dtype = np.int64 if output == "predict" else X.dtype
    return _graph.map_rows(X, chunk_truncated_outputs, name=name, dtype=dtype, inputs=inputs,
                           what=output)
