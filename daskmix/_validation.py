"""Input validation: every supported input becomes one 2-D floating dask array (or stays NumPy).

Accepted inputs are NumPy arrays (and anything ``numpy.asarray`` takes), dask
arrays, pandas and dask DataFrames, and xarray DataArrays. Checks here are
cheap: they read shapes, chunks and dtypes, never the data, with one
exception: a dask DataFrame's partition lengths are counted (one pass, see
``daskmix._dask.inputs.dataframe_to_array``). Non-finite values are found by
the first pass of the algorithm itself (see ``daskmix._errors.raise_if_nonfinite``), not by
an extra pass. The dask collections themselves are made by
``daskmix._dask.inputs``; this module decides what to accept.

Small in-memory input runs inline: a caller that asks for it
(``check_input(..., inline=True)``) gets, for a NumPy array (or a pandas
DataFrame, or an xarray DataArray holding NumPy) of at most
:data:`INLINE_MAX_ROWS` rows (and one default chunk), the validated NumPy array as
``InputData.local``; the passes of ``daskmix._dask.graph`` then run their
kernels on it in the calling thread, with no graph, no scheduler and no
dask array made (about 5 ms of fixed cost per call otherwise). The results
are those of the graph path: such an input is one chunk there too. Neither
the configured dask scheduler nor an active ``distributed`` client is
consulted: the data is already in this process, and shipping it to workers
costs more than computing it here. Dask input never runs inline (dask in,
lazy dask out).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_array

from daskmix import _xarray
from daskmix._compat import _check_feature_names, _check_n_features
from daskmix._dask import graph as _graph
from daskmix._dask import inputs as _inputs

logger = logging.getLogger(__name__)

__all__ = [
    "INLINE_MAX_ROWS",
    "InputData",
    "check_input",
    "check_sample_weight",
    "default_chunk_rows",
    "wrap_rows",
]

#: Most rows of an in-memory input that runs inline (in the calling thread,
#: without a Dask graph) where the caller allows it; the input must also fit
#: in one default chunk (:func:`default_chunk_rows`). The graph path makes one
#: chunk of such an input, so it gains no parallelism there, only its fixed
#: cost (a graph, a scheduler start: 4 to 30 ms per pass on a loaded 2-core
#: machine, against 0.4 ms for ``predict_proba`` of 1,024 x 2 rows inline and
#: 8 ms of 4,096 x 16 at 8 full components), and both paths give the same
#: result to the bit. Measured with ``benchmarks/bench_small.py``.
INLINE_MAX_ROWS = 4096
#: Largest default chunk, in elements (32 MB of float64).
_MAX_CHUNK_ELEMENTS = 2**22
#: Smallest default chunk, in rows.
_MIN_CHUNK_ROWS = 4096


def default_chunk_rows(n_samples, n_features, n_workers=None):
    """Rows per chunk for in-memory input (NumPy arrays, pandas DataFrames).

    Chunks of in-memory data are views (see
    ``daskmix._dask.inputs.ReadOnlyRows``), so their size does not cost
    memory; it sets the scheduling. About four chunks per core balance the
    load on the threaded scheduler, capped at 32 MB so a chunk stays a cheap unit of
    work to move or retry. The per-chunk temporaries that grow with the
    number of components are bounded separately, by the kernels' row tiles
    (see ``daskmix.mixture.kernels.suffstats.tile_rows``).

    Parameters
    ----------
    n_samples, n_features : int
    n_workers : int or None
        Cores to balance over; ``os.cpu_count()`` by default.

    Returns
    -------
    int
    """
    n_workers = n_workers or os.cpu_count() or 1
    balanced = -(-int(n_samples) // (4 * n_workers))
    largest = max(_MIN_CHUNK_ROWS, _MAX_CHUNK_ELEMENTS // max(int(n_features), 1))
    rows = min(max(balanced, _MIN_CHUNK_ROWS), largest)
    return int(-(-rows // _MIN_CHUNK_ROWS) * _MIN_CHUNK_ROWS)


class InputData:
    """A validated input and what is needed to shape outputs like it.

    Parameters
    ----------
    array : dask.array.Array or None, default=None
        None when ``local`` is given: the dask array is then made from it
        on first use.
    kind : {"numpy", "dask", "xarray"}, default="dask"
    xarray_info : object or None, default=None
    local : ndarray or None, default=None
        The validated in-memory array, when it runs inline.
    chunk_rows : int or None, default=None
        Rows per chunk of the dask array made from ``local``.

    Attributes
    ----------
    array : dask.array.Array of shape (n_samples, n_features)
        Floating point, one chunk along features, known chunk sizes.
    kind : {"numpy", "dask", "xarray"}
        How row-wise outputs are returned.
    xarray_info : object or None
        Sample dimension and coordinates, for xarray outputs.
    local : ndarray of shape (n_samples, n_features) or None
        The same data in memory, for small in-memory input whose caller
        allowed inline passes (see the module notes); None otherwise.
    """

    def __init__(self, array=None, kind="dask", xarray_info=None, *, local=None,
                 chunk_rows=None):
        if array is None and local is None:
            raise TypeError("InputData needs an array or a local array.")
        self._array = array
        self.kind = kind
        self.xarray_info = xarray_info
        self.local = local
        self._chunk_rows = chunk_rows

    @property
    def array(self):
        if self._array is None:
            X = self.local
            self._array = _inputs.from_memory(
                X, self._chunk_rows or default_chunk_rows(X.shape[0], X.shape[1])
            )
        return self._array

    @property
    def X(self):
        """What the passes of ``daskmix._dask.graph`` take: ``local`` if set, else ``array``."""
        return self.array if self.local is None else self.local

    def replace(self, **changes):
        """A copy with ``changes`` (``kind``, ``xarray_info``) made.

        Returns
        -------
        InputData
        """
        fields = dict(array=self._array, kind=self.kind, xarray_info=self.xarray_info,
                      local=self.local, chunk_rows=self._chunk_rows)
        fields.update(changes)
        return InputData(**fields)

    @property
    def n_samples(self):
        return int(self.X.shape[0])

    @property
    def dtype(self):
        return self.X.dtype


def _floating_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ValueError(
            "Complex data not supported: daskmix fits real-valued data. "
            "Pass X.real, or split real and imaginary parts into features."
        )
    if dtype.kind not in "biuf":
        raise TypeError(
            f"X has dtype {dtype}, but daskmix needs numeric data. Convert it "
            "first, for example X.astype('float64'), after encoding any "
            "categorical columns as numbers."
        )
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _check_dask_array(X, min_samples):
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D array of shape (n_samples, n_features), got a {X.ndim}D "
            "dask array. Reshape your data, e.g. X.reshape(-1, 1) for a single "
            "feature or X.reshape(1, -1) for a single sample."
        )
    dtype = _floating_dtype(X.dtype)
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            "X has unknown chunk sizes along the samples axis (as a dask array made "
            "from a dataframe with to_dask_array() does). Call "
            "X.compute_chunk_sizes() first, or pass the dask DataFrame itself."
        )
    if len(X.chunks[1]) > 1:
        raise ValueError(
            f"X is split into {len(X.chunks[1])} chunks along the features axis; "
            "daskmix needs every row of a chunk whole. Rechunk with "
            "X.rechunk({1: -1}) (or X.rechunk({0: 'auto', 1: -1}))."
        )
    n_samples, n_features = X.shape
    if n_features < 1:
        raise ValueError(
            f"0 feature(s) (shape={X.shape}) while a minimum of 1 is required."
        )
    if n_samples < min_samples:
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={X.shape}) while a "
            f"minimum of {min_samples} is required."
        )
    if X.dtype != dtype:
        X = X.astype(dtype)
    return X


def _from_numpy(X, min_samples):
    if (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FLOATS
            and X.shape[0] >= min_samples and X.shape[1] >= 1):
        # what check_array returns for it (X itself), in 1 us instead of 50
        return X
    return check_array(
        X,
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
        ensure_min_samples=min_samples,
    )


_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def runs_inline(X):
    """Whether the validated in-memory array ``X`` is small enough to run inline.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    bool
    """
    n_samples, n_features = X.shape
    return n_samples <= min(INLINE_MAX_ROWS, default_chunk_rows(n_samples, n_features))


def check_input(estimator, X, *, reset, min_samples=1, chunk_rows=None, inline=False):
    """Validate ``X`` and turn it into a 2-D floating dask array.

    Sets (``reset=True``) or checks (``reset=False``) ``n_features_in_`` and
    ``feature_names_in_`` on ``estimator``, as scikit-learn does.

    Parameters
    ----------
    estimator : BaseEstimator or None
        None skips the feature bookkeeping, for inputs that do not live in
        the feature space (e.g. the projections ``inverse_transform`` takes).
    X : array-like, dask array, (dask) DataFrame or xarray.DataArray
        Of shape (n_samples, n_features).
    reset : bool
        True in ``fit``, False in ``predict`` and friends. For xarray input,
        ``fit`` records the feature dimension (``_xarray_features``) and later
        calls find the features by that name.
    min_samples : int, default=1
    chunk_rows : int or None, default=None
        Rows per chunk for in-memory input; None uses ``default_chunk_rows``.
        Dask input keeps its own chunks.
    inline : bool, default=False
        Allow small in-memory input to run inline (``InputData.local``; see
        the module notes). Only for callers whose every pass goes through
        ``InputData.X`` and that validate sample weights with
        :func:`check_sample_weight` after this call.

    Returns
    -------
    InputData
    """
    kind = "dask"
    xarray_info = None
    if _xarray.is_dataarray(X):
        fitted = None if estimator is None or reset else getattr(
            estimator, "_xarray_features", None
        )
        X, xarray_info = _xarray.to_2d(X, fitted)
        kind = "xarray"
    is_dataframe = _inputs.is_dask_dataframe(X)
    if estimator is not None:
        # scikit-learn reads names from pandas frames: give it an empty one
        names_from = pd.DataFrame(columns=X.columns) if is_dataframe else X
        # an ndarray has no names: nothing to record, check or warn about
        # unless the estimator has some (scikit-learn's check costs 0.1 ms)
        if type(X) is not np.ndarray or hasattr(estimator, "feature_names_in_"):
            _check_feature_names(estimator, names_from, reset=reset)
    if is_dataframe:
        logger.debug("computing partition lengths of a dask DataFrame")
        X = _inputs.dataframe_to_array(X)
    if _graph.is_dask_array(X):
        data = InputData(_check_dask_array(X, min_samples), kind, xarray_info)
    else:
        local = _from_numpy(X, min_samples)
        data = InputData(kind="numpy" if kind == "dask" else kind, xarray_info=xarray_info,
                         local=local, chunk_rows=chunk_rows)
        if not (inline and runs_inline(local)):
            data.array  # noqa: B018 - the dask array, now: the graph path needs it
            data.local = None
    if estimator is not None:
        _check_n_features(estimator, data.X, reset=reset)
        if reset:
            _remember_xarray_features(estimator, xarray_info)
    return data


def _remember_xarray_features(estimator, xarray_info):
    """Record (or forget) the feature dimension of xarray training input.

    Later xarray inputs are then matched to it by name: any order of
    dimensions, and of feature labels, is accepted.

    Parameters
    ----------
    estimator : BaseEstimator
    xarray_info : XarrayInfo or None
        None for input that is not xarray.
    """
    if xarray_info is None:
        estimator.__dict__.pop("_xarray_features", None)
    else:
        estimator._xarray_features = xarray_info.features


def check_sample_weight(sample_weight, data):
    """Validate ``sample_weight`` and chunk it like the rows of ``data``.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), dask array, or None
    data : InputData

    Returns
    -------
    dask.array.Array of shape (n_samples,) or None
        An ndarray when ``data`` runs inline (``data.local`` is set).
    """
    if sample_weight is None:
        return None
    if _graph.is_dask_array(sample_weight):
        if data.local is not None:
            # dask weights with in-memory rows: the graph path, as before
            data.array  # noqa: B018
            data.local = None
        row_chunks = data.array.chunks[0]
        if sample_weight.ndim != 1 or sample_weight.shape[0] != data.n_samples:
            raise ValueError(
                f"sample_weight must have shape ({data.n_samples},), got "
                f"{sample_weight.shape}."
            )
        if any(np.isnan(c) for c in sample_weight.chunks[0]):
            raise ValueError(
                "sample_weight has unknown chunk sizes; call "
                "sample_weight.compute_chunk_sizes() first."
            )
        if sample_weight.chunks[0] != row_chunks:
            sample_weight = sample_weight.rechunk((row_chunks,))
        return sample_weight
    if _xarray.is_dataarray(sample_weight):
        sample_weight = sample_weight.data
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if sample_weight.ndim == 0:
        sample_weight = np.full(data.n_samples, float(sample_weight))
    if sample_weight.shape != (data.n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({data.n_samples},), got "
            f"{sample_weight.shape}."
        )
    if not np.all(np.isfinite(sample_weight)):
        raise ValueError("sample_weight contains NaN or infinity; weights must be finite.")
    if np.any(sample_weight < 0):
        raise ValueError("sample_weight has negative values; weights must be >= 0.")
    if not np.any(sample_weight > 0):
        raise ValueError("sample_weight sums to zero; at least one weight must be > 0.")
    if data.local is not None:
        return sample_weight
    return _inputs.weights_from_memory(sample_weight, data.array.chunks[0])


def wrap_rows(result, data, *, column_dim=None, column_labels=None):
    """Shape a lazy row-wise result like the input it came from.

    Parameters
    ----------
    result : dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
    data : InputData
    column_dim : str or None
        Name of the column dimension for xarray outputs, e.g. "component".
    column_labels : array-like or None
        Coordinate values of ``column_dim``.

    Returns
    -------
    ndarray, dask.array.Array or xarray.DataArray
        NumPy in gives NumPy out (computed); dask in gives lazy dask out;
        xarray in gives xarray out with the sample coordinates kept.
    """
    if data.kind == "numpy":
        return _graph.compute(result)[0]
    if data.kind == "xarray":
        return _xarray.wrap(result, data.xarray_info, column_dim, column_labels)
    return result
