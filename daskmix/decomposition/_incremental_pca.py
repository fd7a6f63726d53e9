"""IncrementalPCA: scikit-learn's estimator, fitted from per-chunk moments merged in a tree."""

from __future__ import annotations

import functools
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from daskmix import _xarray
from daskmix._compat import Interval, RealNotInt, _fit_context
from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix._model_io import register_model
from daskmix._state import SaveMixin, unchanged_on_error
from daskmix._validation import check_input, wrap_rows
from daskmix.decomposition._model_file import INCREMENTAL_PCA_FILE
from daskmix.decomposition._pca_kernels import (
    chunk_inverse_transform,
    chunk_moments,
    chunk_transform,
    merge_moments,
    merge_packed_moments,
    moments_size,
    scatter_spectrum,
    unpack_moments,
)

__all__ = ["IncrementalPCA"]


def _feature_axis(X):
    """Name and labels of the feature dimension of ``X``, for inverse_transform.

    Parameters
    ----------
    X : object
        The training input.

    Returns
    -------
    name : str
        The last dimension's name for an xarray DataArray, else ``"feature"``.
    labels : ndarray or None
        That dimension's coordinate values, if it has any.
    """
    if not _xarray.is_dataarray(X):
        return "feature", None
    dim = X.dims[-1]
    return dim, (np.asarray(X[dim].values) if dim in X.coords else None)


def _n_components_for_ratio(ratio, fraction):
    """Fewest leading components whose explained variance ratios sum above ``fraction``.

    scikit-learn ``PCA``'s rule (a strict excess, ``side="right"``).

    Parameters
    ----------
    ratio : ndarray of shape (n,)
        Explained variance ratios in decreasing order.
    fraction : float
        In (0, 1).

    Returns
    -------
    int
        Between 1 and ``n``.
    """
    count = int(np.searchsorted(np.cumsum(ratio), fraction, side="right")) + 1
    return min(count, len(ratio))


@register_model(INCREMENTAL_PCA_FILE)
class IncrementalPCA(SaveMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                     BaseEstimator):
    """Principal component analysis of NumPy, Dask, pandas or xarray data.

    A drop-in for :class:`sklearn.decomposition.IncrementalPCA`: the same
    parameters, fitted attributes and methods. The two ways of fitting
    compute different things, as the method docstrings say:

    - :meth:`fit` computes the *exact* PCA of all rows in one pass: every
      chunk computes its count, mean and centred scatter, a tree reduction
      merges them exactly, and the client diagonalises the merged
      covariance. The result is scikit-learn's ``PCA(svd_solver="full")``,
      not scikit-learn's ``IncrementalPCA.fit``, which truncates to
      ``n_components`` after every batch and so differs from it slightly.
    - :meth:`partial_fit` applies scikit-learn's incremental (Ross et al.)
      update to one batch, truncating to ``n_components`` as scikit-learn
      does; fed the same batches it reaches scikit-learn's result.

    Parameters
    ----------
    n_components : int, float or None, default=None
        Number of components to keep. An int keeps that many; a float in
        (0, 1) keeps the fewest components whose explained variance ratios
        sum to more than it (scikit-learn ``PCA``'s rule); None keeps
        ``min(n_samples, n_features)``. :meth:`partial_fit` must truncate
        to a fixed number of components, so it applies a float or None to
        its first batch and keeps that number afterwards.
    whiten : bool, default=False
        Scale the projections by ``1 / sqrt(explained_variance_)`` so that
        each has unit variance.
    copy : bool, default=True
        Kept for compatibility; daskmix never writes to ``X``.
    batch_size : int or None, default=None
        Rows per chunk when ``fit`` or ``partial_fit`` receive in-memory
        input (NumPy, pandas, NumPy-backed xarray); None chooses it with
        ``daskmix._validation.default_chunk_rows``. Dask input keeps its own
        chunks, which are the batches. It sets how the work is split, never
        the result: ``fit`` is exact whatever the chunks, and
        ``partial_fit`` treats its whole input as one batch, as
        scikit-learn's does.
    split_every : int or None, default=None
        Fan-in of the tree reduction of chunk moments; None lets dask's
        configuration decide.

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
        Principal axes, sorted by decreasing explained variance; the
        largest entry of each is positive (scikit-learn's sign rule).
    explained_variance_ : ndarray of shape (n_components_,)
        Variance along each component (denominator ``n_samples_seen_ - 1``).
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Fraction of the total variance along each component.
    singular_values_ : ndarray of shape (n_components_,)
        The 2-norms of the centred data along each component.
    mean_ : ndarray of shape (n_features,)
        Per-feature mean of the rows seen.
    var_ : ndarray of shape (n_features,)
        Per-feature (population) variance of the rows seen.
    noise_variance_ : float
        Mean of the variances left out (probabilistic PCA's noise
        estimate), 0 when nothing is left out.
    n_components_ : int
        Number of components kept.
    n_samples_seen_ : int
        Rows seen by ``fit``, or by all ``partial_fit`` calls since.
    batch_size_ : int
        Rows in the largest chunk of the last input fitted.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only for DataFrame input).

    See Also
    --------
    sklearn.decomposition.IncrementalPCA : The in-memory estimator this one follows.
    sklearn.decomposition.PCA : What :meth:`fit` computes.

    Notes
    -----
    Passes over the data: :meth:`fit` makes exactly one pass and one
    ``dask.compute``; so does each :meth:`partial_fit` call, for its batch.
    Neither loads the data into the client; persist a dask array that is
    expensive to produce (``X = X.persist()``) before fitting, as daskmix
    does not. :meth:`transform` and :meth:`inverse_transform` are lazy on
    dask input.

    Memory: each chunk's summary, and each partial merge, holds an
    ``n_features x n_features`` float64 scatter, so the method suits tall
    data with up to a few thousand features (4,000 features make 128 MB
    per summary). Memory per worker is about one chunk plus a
    ``4096 x n_features`` centred tile plus ``split_every`` such
    summaries. The features must be in one chunk (``X.rechunk({1: -1})``)
    and the chunk sizes known.

    Accuracy: the spectrum is the eigen-decomposition of the scatter (like
    scikit-learn's ``svd_solver="covariance_eigh"``), so a variance smaller
    than about ``1e-16`` times the largest one is known only to within
    that absolute error; components with such variances are noise anyway.
    Moments are accumulated in float64; float32 input stays float32 in the
    per-chunk products and in the fitted attributes.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from daskmix import IncrementalPCA
    >>> X = da.from_array(np.array([[-1, -1], [-2, -1], [-3, -2],
    ...                             [1, 1], [2, 1], [3, 2]], dtype=float), chunks=(3, 2))
    >>> ipca = IncrementalPCA(n_components=1).fit(X)
    >>> np.round(ipca.explained_variance_ratio_, 4)
    array([0.9924])
    >>> ipca.transform(X)
    dask.array<daskmix-ipca-transform, shape=(6, 1), dtype=float64, chunksize=(3, 1), chunktype=numpy.ndarray>
    """

    _parameter_constraints: dict = {
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "whiten": ["boolean"],
        "copy": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "split_every": [Interval(Integral, 2, None, closed="left"), None],
    }

    def __init__(self, n_components=None, *, whiten=False, copy=True, batch_size=None,
                 split_every=None):
        self.n_components = n_components
        self.whiten = whiten
        self.copy = copy
        self.batch_size = batch_size
        self.split_every = split_every

    # ---- fitting -------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the exact PCA of all rows of ``X`` in one pass.

        Every chunk computes its count, mean and centred scatter; a tree
        reduction merges them exactly (Chan et al.'s pairwise update), and
        the client diagonalises the merged covariance. The fitted
        attributes are those of scikit-learn's ``PCA(svd_solver="full")``
        on the same rows (components up to sign, to rounding), whatever the
        chunking. This is *not* scikit-learn's ``IncrementalPCA.fit``,
        which truncates to ``n_components`` after every batch; use
        :meth:`partial_fit` for that update.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
            Training data, at least 2 rows. Dask input is never loaded into
            the client.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with unchanged_on_error(self):
            self._fit(X)
        return self

    def _fit(self, X):
        """Body of :meth:`fit` (see there), run with the estimator restored on error.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        """
        data = check_input(self, X, reset=True, min_samples=2, chunk_rows=self.batch_size)
        n_samples, n_features = data.array.shape
        if isinstance(self.n_components, Integral):
            self._check_int_n_components(n_features)
            if self.n_components > n_samples:
                raise ValueError(
                    f"n_components={self.n_components} must be <= n_samples="
                    f"{n_samples}: a PCA of {n_samples} rows has at most "
                    f"min(n_samples, n_features)={min(n_samples, n_features)} "
                    "components. Lower n_components or pass more rows."
                )
        n, mean, scatter = self._batch_moments(data)
        S, Vt = scatter_spectrum(scatter, n)
        explained_variance = S**2 / (n - 1)
        total = np.trace(scatter) / (n - 1)
        ratio = explained_variance / total if total > 0 else np.zeros_like(explained_variance)
        if self.n_components is None:
            k = len(S)
        elif isinstance(self.n_components, Integral):
            k = int(self.n_components)
        else:
            k = _n_components_for_ratio(ratio, float(self.n_components))
        noise = explained_variance[k:].mean() if k < len(S) else 0.0
        self._publish(
            data, n=n, mean=mean, var=np.diagonal(scatter) / n, S=S[:k], Vt=Vt[:k],
            explained_variance=explained_variance[:k], ratio=ratio[:k], noise=noise,
        )
        self._feature_axis = _feature_axis(X)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, check_input=True):
        """Update the fit with one batch, by scikit-learn's incremental PCA update.

        Applies the incremental update of Ross et al. (2008) exactly as
        scikit-learn's ``IncrementalPCA.partial_fit`` does: the current
        components (scaled by their singular values), the centred batch and
        a mean-correction row are decomposed together and truncated to
        ``n_components``. Fed the same batches it reaches scikit-learn's
        fitted attributes (to rounding). The truncation at every batch
        makes the result an approximation of the PCA of all rows seen; use
        :meth:`fit` for the exact PCA.

        The whole of ``X`` is one batch. It is not loaded into the client:
        its chunks' moments are merged in a tree, and the update works on
        the merged ``n_features x n_features`` scatter, which stands in for
        the centred batch (they have the same singular values and right
        singular vectors).

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
            One batch; the first batch needs at least 2 rows and at least
            ``n_components`` rows.
        y : Ignored
            Not used, present for API consistency by convention.
        check_input : bool, default=True
            Ignored: daskmix always validates ``X`` (the checks read shapes
            and dtypes, not the data). Kept for compatibility.

        Returns
        -------
        self : object
            The updated estimator.
        """
        with unchanged_on_error(self):
            self._partial_fit(X)
        return self

    def _partial_fit(self, X):
        """Body of :meth:`partial_fit` (see there), run with the estimator restored on error.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        """
        first = not hasattr(self, "components_")
        data = check_input(
            self, X, reset=first, min_samples=2 if first else 1, chunk_rows=self.batch_size
        )
        n_batch, n_features = data.array.shape
        k = self._partial_fit_n_components(first, n_batch, n_features)
        n_b, mean_b, scatter_b = self._batch_moments(data)
        if first:
            n, mean, scatter, var_scatter = n_b, mean_b, scatter_b, np.diagonal(scatter_b)
            n_rows = n_b
        else:
            n_seen = float(self.n_samples_seen_)
            old_mean = self.mean_.astype(np.float64)
            scaled = self.singular_values_.astype(np.float64)[:, None] * self.components_
            n, mean, scatter = merge_moments(
                [n_seen, n_b], [old_mean, mean_b], [scaled.T @ scaled, scatter_b]
            )
            _, _, var_scatter = merge_moments(
                [n_seen, n_b], [old_mean, mean_b],
                [n_seen * self.var_.astype(np.float64), np.diagonal(scatter_b)],
            )
            # scikit-learn's stacked matrix: old components, the batch, one mean row
            n_rows = len(self.singular_values_) + n_b + 1
        S, Vt = scatter_spectrum(scatter, n_rows)
        explained_variance = S**2 / (n - 1)
        total = var_scatter.sum()
        ratio = S**2 / total if total > 0 else np.zeros_like(S)
        if k is None:  # a fraction of the variance, chosen on the first batch
            k = _n_components_for_ratio(ratio, float(self.n_components))
        if k not in (n_batch, n_features):
            noise = explained_variance[k:].mean()
        else:
            noise = 0.0
        self._publish(
            data, n=n, mean=mean, var=var_scatter / n, S=S[:k], Vt=Vt[:k],
            explained_variance=explained_variance[:k], ratio=ratio[:k], noise=noise,
        )
        if first:
            self._feature_axis = _feature_axis(X)

    def _check_int_n_components(self, n_features):
        """Raise unless an int ``n_components`` is at most ``n_features``.

        Parameters
        ----------
        n_features : int

        Raises
        ------
        ValueError
        """
        if self.n_components > n_features:
            raise ValueError(
                f"n_components={self.n_components} must be <= n_features={n_features}: "
                "a PCA has at most one component per feature. Lower n_components."
            )

    def _partial_fit_n_components(self, first, n_batch, n_features):
        """Components to keep after a ``partial_fit`` update (scikit-learn's rules).

        Parameters
        ----------
        first : bool
            Whether this is the first batch.
        n_batch, n_features : int
            Shape of the batch.

        Returns
        -------
        int or None
            None when a fraction of the variance is to be kept on the first
            batch: the count then depends on the batch's spectrum.

        Raises
        ------
        ValueError
            When ``n_components`` exceeds the features or the first batch's
            rows, or differs from the components already fitted.
        """
        if not first and not isinstance(self.n_components, Integral):
            return self.components_.shape[0]
        if self.n_components is None:
            k = min(n_batch, n_features)
        elif not isinstance(self.n_components, Integral):
            return None
        else:
            self._check_int_n_components(n_features)
            k = int(self.n_components)
            if first and k > n_batch:
                raise ValueError(
                    f"n_components={k} must be <= the number of rows of the first "
                    f"partial_fit batch ({n_batch}). Pass a larger first batch."
                )
        if not first and self.components_.shape[0] != k:
            raise ValueError(
                f"n_components changed from {self.components_.shape[0]} to {k} between "
                "calls to partial_fit. Keep n_components fixed, or call fit to start "
                "over."
            )
        return k

    def _batch_moments(self, data):
        """Count, mean and centred scatter of all rows of ``data``: one pass, one compute.

        Parameters
        ----------
        data : InputData

        Returns
        -------
        n : float
        mean : ndarray of shape (n_features,)
        scatter : ndarray of shape (n_features, n_features)

        Raises
        ------
        ValueError
            If the data hold NaN or infinity.
        """
        n_features = data.array.shape[1]
        stats = _graph.reduce_blocks(
            data.array, None, chunk_moments, size=moments_size(n_features),
            name="ipca-moments", split_every=self.split_every,
            merge=functools.partial(merge_packed_moments, n_features=n_features),
        )
        (vector,) = _graph.compute(stats)
        n, nonfinite, mean, scatter = unpack_moments(vector, n_features)
        raise_if_nonfinite(nonfinite)
        return n, mean, scatter

    def _publish(self, data, *, n, mean, var, S, Vt, explained_variance, ratio, noise):
        """Set the fitted attributes, in the input's dtype.

        Parameters
        ----------
        data : InputData
        n : float
            Rows seen.
        mean, var : ndarray of shape (n_features,)
        S : ndarray of shape (n_components,)
        Vt : ndarray of shape (n_components, n_features)
        explained_variance, ratio : ndarray of shape (n_components,)
        noise : float
        """
        dtype = data.dtype
        self.components_ = Vt.astype(dtype)
        self.singular_values_ = S.astype(dtype)
        self.explained_variance_ = explained_variance.astype(dtype)
        self.explained_variance_ratio_ = ratio.astype(dtype)
        self.noise_variance_ = dtype.type(noise)
        self.mean_ = mean.astype(dtype)
        self.var_ = var.astype(dtype)
        self.n_components_ = len(S)
        self.n_samples_seen_ = round(n)
        self.batch_size_ = int(max(data.array.chunks[0]))

    # ---- outputs -------------------------------------------------------
    def transform(self, X):
        """Project ``X`` on the principal components.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        X_new : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_components_)
            ``(X - mean_) @ components_.T``, divided by
            ``sqrt(explained_variance_)`` when whitening. Lazy for dask
            input; an xarray result has a ``component`` dimension.
        """
        check_is_fitted(self)
        data = check_input(self, X, reset=False, inline=True)
        dtype = data.dtype
        components = self.components_.astype(np.float64)
        scale = None
        if self.whiten:
            scale = np.sqrt(self.explained_variance_.astype(np.float64))
            scale = np.maximum(scale, np.finfo(self.explained_variance_.dtype).eps)
            scale = scale.astype(dtype)
        result = _graph.map_rows(
            data.X, chunk_transform, name="ipca-transform",
            n_columns=self.n_components_, dtype=dtype,
            components=components.astype(dtype),
            mean_projection=(self.mean_.astype(np.float64) @ components.T).astype(dtype),
            scale=scale,
        )
        return wrap_rows(
            result, data, column_dim="component", column_labels=np.arange(self.n_components_)
        )

    def inverse_transform(self, X):
        """Map projections back to the feature space.

        The exact inverse of :meth:`transform` on the span of the
        components (whitening included).

        Parameters
        ----------
        X : {array-like, dask.array.Array, xarray.DataArray} of shape (n_samples, n_components_)
            Projections, as :meth:`transform` returns them.

        Returns
        -------
        X_original : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_features)
            ``X @ components_ + mean_`` (with the components scaled by
            ``sqrt(explained_variance_)`` when whitening). Lazy for dask
            input; an xarray result has the training data's feature
            dimension (``"feature"`` unless fitted on xarray).
        """
        check_is_fitted(self)
        data = check_input(None, X, reset=False, inline=True)
        if data.X.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {data.X.shape[1]} columns, but {type(self).__name__} has "
                f"{self.n_components_} components; inverse_transform expects the "
                "output of transform, of shape (n_samples, n_components_)."
            )
        dtype = data.dtype
        loadings = self.components_.astype(np.float64)
        if self.whiten:
            loadings = np.sqrt(self.explained_variance_.astype(np.float64))[:, None] * loadings
        result = _graph.map_rows(
            data.X, chunk_inverse_transform, name="ipca-inverse-transform",
            n_columns=self.components_.shape[1], dtype=dtype,
            loadings=loadings.astype(dtype), mean=self.mean_.astype(dtype),
        )
        dim, labels = self._feature_axis
        return wrap_rows(result, data, column_dim=dim, column_labels=labels)

    @property
    def _n_features_out(self):
        """Number of transformed output features (``get_feature_names_out``)."""
        return self.components_.shape[0]

    def __sklearn_tags__(self):
        """scikit-learn tags: a transformer that keeps float32 as float32."""
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
