"""MiniBatchKMeans: scikit-learn's estimator, fed by rows gathered from Dask chunks."""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted

from daskmix import _xarray
from daskmix._compat import Interval, StrOptions, _fit_context
from daskmix._dask import graph as _graph
from daskmix._errors import raise_if_nonfinite
from daskmix._kernels import count_nonfinite
from daskmix._model_io import register_model
from daskmix._state import SaveMixin, unchanged_on_error
from daskmix._validation import check_input, check_sample_weight, wrap_rows
from daskmix.cluster._kmeans_kernels import (
    chunk_distances,
    chunk_labels,
    chunk_lloyd_stats,
    chunk_nearest_stats,
    lloyd_stats_size,
    nearest_stats_size,
    unpack_lloyd,
    unpack_nearest,
)
from daskmix.cluster._minibatch import EarlyStopping, MiniBatchState, minibatch_step
from daskmix.cluster._model_file import MINIBATCH_KMEANS_FILE
from daskmix.cluster._sampling import request_rows
from daskmix.cluster._seeding import (
    N_ROUNDS,
    OVERSAMPLING_FACTOR,
    kmeans_parallel_init,
    seed_from_sample,
)

__all__ = ["MiniBatchKMeans"]

#: Largest number of elements (rows x features) gathered for one compute of
#: mini-batch steps: 32 MB of float64.
ROUND_ELEMENTS = 2**22
#: Steps in the first compute; each later compute doubles it, up to
#: ``ROUND_ELEMENTS``, so an early stop wastes at most half a compute's rows.
FIRST_ROUND_STEPS = 16


def _in_memory(data):
    """Whether ``data`` came from an in-memory array (NumPy, pandas, eager xarray).

    Parameters
    ----------
    data : InputData

    Returns
    -------
    bool
    """
    return data.kind == "numpy" or (data.kind == "xarray" and not data.xarray_info.lazy)


@register_model(MINIBATCH_KMEANS_FILE)
class MiniBatchKMeans(SaveMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                      ClusterMixin, BaseEstimator):
    """Mini-batch k-means on NumPy, Dask, pandas or xarray data.

    A drop-in for :class:`sklearn.cluster.MiniBatchKMeans`: the same
    parameters, defaults, fitted attributes and methods. Mini-batches are
    rows drawn at random by global row index and gathered from the chunks
    (only the drawn rows travel), several steps per ``dask.compute``; the
    data is never loaded into the client. Seeding is scikit-learn's
    k-means++ on a row sample, or k-means|| over all the data
    (``init="k-means||"``).

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form and of centroids to generate.
    init : {"k-means++", "k-means||", "random"}, callable or array-like, default="k-means++"
        An array-like has shape (n_clusters, n_features): the initial centres.
        ``"k-means++"``: scikit-learn's greedy k-means++ on ``init_size``
        random rows. ``"k-means||"``: scalable k-means++ (Bahmani et al.,
        2012) over all the data, in ``init_rounds + 2`` passes, then a
        weighted recluster of the candidates in the client; better seeds
        than a sample when clusters are many or small, at the cost of the
        passes. ``"random"``: ``n_clusters`` rows of the sample. A callable
        is called as ``init(sample, n_clusters, random_state=rs)`` on the
        sample; an array gives the initial centres.
    max_iter : int, default=100
        Maximum number of passes' worth of rows (``max_iter * n_samples /
        batch_size`` steps) before stopping, independently of early stopping.
    batch_size : int, default=1024
        Rows per mini-batch.
    verbose : int, default=0
        Verbosity mode.
    compute_labels : bool, default=True
        After ``fit``, compute the exact ``inertia_`` (one pass) and, for
        in-memory input, ``labels_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the mini-batches and the reassignments. The
        same value gives the same centres whatever the chunking.
    tol : float, default=0.0
        Stop when the squared change of the centres in a step is at most
        ``tol`` times the mean feature variance; 0 disables it.
    max_no_improvement : int or None, default=10
        Stop after this many steps without improving the smoothed batch
        inertia; None disables it.
    init_size : int or None, default=None
        Rows sampled for the sample-based inits and for choosing the best of
        ``n_init``; None means ``3 * batch_size`` (``3 * n_clusters`` if that
        is smaller than ``n_clusters``), at most ``n_samples``.
    n_init : "auto" or int, default="auto"
        Initialisations tried; the best by inertia on a validation sample is
        kept. "auto" means 3 for "random" and callables, 1 otherwise.
    reassignment_ratio : float, default=0.01
        Centres whose weight falls below this fraction of the largest are
        moved to random rows of the batch.
    oversampling_factor : float, default=2.0
        For ``init="k-means||"``: expected candidates per round, per cluster.
    init_rounds : int, default=5
        For ``init="k-means||"``: rounds of candidate draws.
    split_every : int or None, default=None
        Fan-in of the tree reductions; None lets dask's configuration decide.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Coordinates of cluster centres, in the data's dtype.
    labels_ : ndarray of shape (n_samples,)
        Label of each training row; only for in-memory input (NumPy, pandas,
        NumPy-backed xarray) with ``compute_labels=True``. Not stored for
        dask input (use ``predict(X)``, which is lazy).
    inertia_ : float
        Weighted sum of squared distances of the training rows to their
        nearest centre (exact, with ``compute_labels=True``); otherwise
        scikit-learn's estimate from the smoothed batch inertia.
    n_iter_ : int
        Passes' worth of rows processed, ``ceil(n_steps_ * batch_size / n_samples)``.
    n_steps_ : int
        Mini-batches processed.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit`` (only for DataFrame input).

    See Also
    --------
    sklearn.cluster.MiniBatchKMeans : The in-memory estimator this one follows.
    daskmix.GaussianMixture : Soft clustering by Gaussian mixtures.

    Notes
    -----
    Passes over the data, each one ``dask.compute``: the seeding (one row
    sample for the sample-based inits; ``init_rounds + 2`` passes for
    k-means||, times ``n_init``), then one compute per group of steps:
    16 steps, then 32, doubling up to ``2**22 / (batch_size * n_features)``
    steps, each gathering only the drawn rows; the first also checks the
    data for NaN and infinity and, with ``tol > 0``, measures the variance.
    Finally one pass for ``inertia_`` (and ``labels_``) when
    ``compute_labels=True``. Every gather reads every chunk: persist a dask
    array that is expensive to produce (``X = X.persist()``) before fitting,
    as daskmix does not.

    Differences from scikit-learn, all chosen so that the result does not
    depend on the chunking: mini-batch rows are drawn uniformly (with
    replacement, by global row index) and ``sample_weight`` weights them in
    the update, where scikit-learn draws rows with probability proportional
    to their weight; the initialisation, the mini-batches and the
    reassignments draw from three streams seeded by ``random_state``, so the
    numbers differ from scikit-learn's for the same seed; centres and
    weights are updated in float64. ``partial_fit`` follows scikit-learn
    exactly (one stream), and reaches its centres on the same batches.

    Memory in the client is at most ``2**22`` gathered elements (32 MB of
    float64) plus the centres; per worker, one chunk plus
    ``4096 x n_clusters`` distances.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from daskmix import MiniBatchKMeans
    >>> X = da.from_array(np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]]),
    ...                   chunks=(3, 2))
    >>> km = MiniBatchKMeans(n_clusters=2, random_state=0, batch_size=6).fit(X)
    >>> np.sort(km.cluster_centers_[:, 0])
    array([ 1., 10.])
    >>> km.predict(X).compute().tolist() in ([0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0])
    True
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "k-means||", "random"}), callable, "array-like"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "compute_labels": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 0, None, closed="left"), None],
        "init_size": [Interval(Integral, 1, None, closed="left"), None],
        "n_init": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "reassignment_ratio": [Interval(Real, 0, None, closed="left")],
        "oversampling_factor": [Interval(Real, 0, None, closed="neither")],
        "init_rounds": [Interval(Integral, 1, None, closed="left")],
        "split_every": [Interval(Integral, 2, None, closed="left"), None],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        max_iter=100,
        batch_size=1024,
        verbose=0,
        compute_labels=True,
        random_state=None,
        tol=0.0,
        max_no_improvement=10,
        init_size=None,
        n_init="auto",
        reassignment_ratio=0.01,
        oversampling_factor=OVERSAMPLING_FACTOR,
        init_rounds=N_ROUNDS,
        split_every=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.oversampling_factor = oversampling_factor
        self.init_rounds = init_rounds
        self.split_every = split_every

    def __sklearn_tags__(self):
        """scikit-learn's tags: a clusterer and transformer that keeps float32.

        Returns
        -------
        sklearn.utils.Tags
        """
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # ---- checks against the data -----------------------------------------
    def _check_params_vs_input(self, data):
        """Check ``n_clusters`` against the data; set ``_batch_size``, ``_init_size``, ``_n_init``.

        Parameters
        ----------
        data : InputData

        Raises
        ------
        ValueError
            With fewer samples than clusters.
        """
        n_samples = data.n_samples
        if n_samples < self.n_clusters:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}."
            )
        self._batch_size = min(self.batch_size, n_samples)
        init_size = self.init_size
        if init_size is None:
            init_size = 3 * self._batch_size
            if init_size < self.n_clusters:
                init_size = 3 * self.n_clusters
        elif init_size < self.n_clusters:
            warnings.warn(
                f"init_size={init_size} should be larger than n_clusters="
                f"{self.n_clusters}. Setting it to min(3*n_clusters, n_samples)",
                RuntimeWarning,
                stacklevel=4,
            )
            init_size = 3 * self.n_clusters
        self._init_size = min(init_size, n_samples)
        explicit = not isinstance(self.init, str) and not callable(self.init)
        if self.n_init == "auto":
            sampled = callable(self.init) or (isinstance(self.init, str) and self.init == "random")
            self._n_init = 3 if sampled else 1
        else:
            self._n_init = self.n_init
        if explicit and self._n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init "
                f"in {type(self).__name__} instead of n_init={self._n_init}.",
                RuntimeWarning,
                stacklevel=4,
            )
            self._n_init = 1

    @property
    def _parallel_init(self):
        """Whether ``init`` is ``"k-means||"``."""
        return isinstance(self.init, str) and self.init == "k-means||"

    def _check_init_array(self, data):
        """The user's initial centres, validated.

        Parameters
        ----------
        data : InputData

        Returns
        -------
        centres : ndarray of shape (n_clusters, n_features), float64, or None
            None when ``init`` is a string or a callable.
        """
        if isinstance(self.init, str) or callable(self.init):
            return None
        centres = check_array(self.init, dtype=data.dtype, copy=True)
        n_features = data.array.shape[1]
        if centres.shape[0] != self.n_clusters:
            raise ValueError(
                f"The shape of the initial centers {centres.shape} does not match "
                f"the number of clusters {self.n_clusters}."
            )
        if centres.shape[1] != n_features:
            raise ValueError(
                f"The shape of the initial centers {centres.shape} does not match "
                f"the number of features of the data {n_features}."
            )
        return centres.astype(np.float64)

    # ---- initialisation -----------------------------------------------------
    def _sample_indices(self, rng, n_samples):
        """Row indices of one init sample, drawn as scikit-learn draws them.

        Parameters
        ----------
        rng : numpy.random.RandomState
        n_samples : int

        Returns
        -------
        ndarray of int, shape (_init_size,)
            With replacement, or every row when ``_init_size`` covers them.
        """
        if self._init_size < n_samples:
            return rng.randint(0, n_samples, self._init_size)
        return np.arange(n_samples)

    def _seed_parallel(self, data, sample_weight, rng):
        """One k-means|| initialisation.

        Parameters
        ----------
        data : InputData
        sample_weight : dask.array.Array of shape (n_samples,) or None
        rng : numpy.random.RandomState

        Returns
        -------
        centres : ndarray of shape (n_clusters, n_features), float64
        """
        return kmeans_parallel_init(
            data.array, sample_weight, self.n_clusters, rng, n_rounds=self.init_rounds,
            oversampling_factor=self.oversampling_factor, split_every=self.split_every,
        )

    def _initial_centres(self, data, sample_weight, rng):
        """The best of ``_n_init`` initial centres, by inertia on a validation sample.

        Every row sample (the validation sample and one per initialisation)
        is gathered in one compute.

        Parameters
        ----------
        data : InputData
        sample_weight : dask.array.Array of shape (n_samples,) or None
        rng : numpy.random.RandomState

        Returns
        -------
        centres : ndarray of shape (n_clusters, n_features), float64
        """
        explicit = self._check_init_array(data)
        if explicit is not None:
            return explicit
        n_samples = data.n_samples
        requests = []
        if self._n_init > 1:
            requests.append(request_rows(data.array, sample_weight,
                                         rng.randint(0, n_samples, self._init_size)))
        if not self._parallel_init:
            requests.extend(request_rows(data.array, sample_weight,
                                         self._sample_indices(rng, n_samples))
                            for _ in range(self._n_init))
        computed = _graph.compute(*[(r.rows, r.weights) for r in requests]) if requests else ()
        samples = [r.expand(*c) for r, c in zip(requests, computed)]
        for rows, _ in samples:
            raise_if_nonfinite(count_nonfinite(rows))
        validation = samples.pop(0) if self._n_init > 1 else None
        best, best_inertia = None, np.inf
        for i in range(self._n_init):
            if self.verbose:
                print(f"Init {i + 1}/{self._n_init} with method {self.init}")
            if self._parallel_init:
                centres = self._seed_parallel(data, sample_weight, rng)
            else:
                rows, weights = samples[i]
                centres = seed_from_sample(self.init, rows, weights, self.n_clusters, rng)
            if validation is None:
                return centres
            rows, weights = validation
            stats = chunk_nearest_stats(rows, None if weights is None else weights[:, None],
                                        centres.astype(rows.dtype))
            _, inertia, _ = unpack_nearest(stats, self.n_clusters)
            if self.verbose:
                print(f"Inertia for init {i + 1}/{self._n_init}: {inertia}")
            if inertia < best_inertia:
                best, best_inertia = centres, inertia
        return best

    # ---- fitting --------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the centroids on X by mini-batches of randomly drawn rows.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
            Training instances. Dask input is never loaded into the client.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None
            Non-negative weights of the rows (see Notes of the class).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with unchanged_on_error(self):
            self._fit(X, sample_weight)
        return self

    def _fit(self, X, sample_weight):
        """Body of ``fit`` (see ``fit``); may leave partial state on error."""
        data = check_input(self, X, reset=True)
        self._check_params_vs_input(data)
        weights = check_sample_weight(sample_weight, data)
        rng = check_random_state(self.random_state)
        init_rng, batch_rng, reassign_rng = (
            np.random.RandomState(seed)
            for seed in rng.randint(np.iinfo(np.int32).max, size=3)
        )
        state = MiniBatchState(
            self._initial_centres(data, weights, init_rng), np.zeros(self.n_clusters)
        )
        n_steps, stopper = self._run_steps(data, weights, state, batch_rng, reassign_rng)
        centres = state.centres.astype(data.dtype)
        self.__dict__.pop("labels_", None)
        if self.compute_labels:
            inertia, labels = self._inertia_and_labels(data, weights, centres)
            if labels is not None:
                self.labels_ = labels
        else:
            # rows are drawn uniformly, so the smoothed (weighted) batch
            # inertia per row estimates the data's inertia per row
            inertia = stopper.smoothed_inertia * data.n_samples
        self.cluster_centers_ = centres
        self.inertia_ = float(inertia)
        self._counts = state.counts
        self._n_since_last_reassign = state.n_since_last_reassign
        self._tol = stopper.tol
        self.n_steps_ = int(n_steps)
        self.n_iter_ = math.ceil(n_steps * self._batch_size / data.n_samples)
        self._n_features_out = self.n_clusters
        return self

    def _summary(self, data, centres):
        """Lazy statistics for the first compute of steps: non-finite count and variance.

        Parameters
        ----------
        data : InputData
        centres : ndarray of shape (n_clusters, n_features)
            Their mean is the shift that keeps the variance accurate.

        Returns
        -------
        summary : dask.array.Array of shape (lloyd_stats_size(1, n_features),)
            ``chunk_lloyd_stats`` of the unweighted rows around the shift.
        shift : ndarray of shape (n_features,), float64
        """
        shift = centres.mean(axis=0, keepdims=True).astype(data.dtype)
        return _graph.reduce_blocks(
            data.array, None, chunk_lloyd_stats, size=lloyd_stats_size(1, shift.shape[1]),
            name="kmeans-summary", split_every=self.split_every, centres=shift,
            check_finite=True,
        ), shift[0].astype(np.float64)

    def _round_steps(self, n_features):
        """Steps of each compute: 16, 32, ... up to the ``ROUND_ELEMENTS`` budget.

        Parameters
        ----------
        n_features : int

        Yields
        ------
        int
            At least 1.
        """
        cap = max(1, ROUND_ELEMENTS // (self._batch_size * n_features))
        steps = min(FIRST_ROUND_STEPS, cap)
        while True:
            yield steps
            steps = min(2 * steps, cap)

    def _run_steps(self, data, sample_weight, state, batch_rng, reassign_rng):
        """Mini-batch steps until early stopping or ``max_iter`` passes' worth of rows.

        Batches are drawn ``batch_rng.randint(0, n_samples, batch_size)``, one
        per step, whatever the size of the computes, so the result depends
        neither on the chunking nor on ``ROUND_ELEMENTS``.

        Parameters
        ----------
        data : InputData
        sample_weight : dask.array.Array of shape (n_samples,) or None
        state : MiniBatchState
            Updated in place.
        batch_rng, reassign_rng : numpy.random.RandomState

        Returns
        -------
        n_steps : int
            Steps done.
        stopper : EarlyStopping
        """
        n_samples, n_features = data.array.shape
        batch = self._batch_size
        n_steps = (self.max_iter * n_samples) // batch
        summary, shift = self._summary(data, state.centres)
        stopper = None
        step = 0
        rounds = self._round_steps(n_features)
        while step < n_steps:
            size = min(next(rounds), n_steps - step)
            draws = np.concatenate([batch_rng.randint(0, n_samples, batch) for _ in range(size)])
            request = request_rows(data.array, sample_weight, draws)
            if stopper is None:
                rows, weights, vector = _graph.compute(request.rows, request.weights, summary)
                stopper = self._early_stopping(vector, shift, n_samples, n_features)
            else:
                rows, weights = _graph.compute(request.rows, request.weights)
            rows, weights = request.expand(rows, weights)
            for j in range(size):
                part = slice(j * batch, (j + 1) * batch)
                before = state.centres.copy() if stopper.tol > 0 else None
                inertia = minibatch_step(
                    state, rows[part], None if weights is None else weights[part],
                    reassign_rng, batch_size=batch,
                    reassignment_ratio=self.reassignment_ratio, verbose=self.verbose,
                )
                change = 0.0 if before is None else float(np.sum((state.centres - before) ** 2))
                step += 1
                if stopper.converged(step - 1, n_steps, change, inertia):
                    return step, stopper
        return step, stopper

    def _early_stopping(self, summary, shift, n_samples, n_features):
        """The convergence monitor, once the summary pass is in.

        Parameters
        ----------
        summary : ndarray of shape (lloyd_stats_size(1, n_features),)
            Computed ``_summary``.
        shift : ndarray of shape (n_features,)
        n_samples, n_features : int

        Returns
        -------
        EarlyStopping
            Its ``tol`` is ``self.tol`` times the mean feature variance.

        Raises
        ------
        ValueError
            If the data holds NaN or infinity.
        """
        counts, sums, sq_dev, nonfinite = unpack_lloyd(summary, 1, n_features)
        raise_if_nonfinite(nonfinite)
        tol = 0.0
        if self.tol > 0:
            mean_offset = sums[0] / counts[0] - shift
            total_variance = sq_dev / counts[0] - float(mean_offset @ mean_offset)
            tol = self.tol * max(total_variance, 0.0) / n_features
        return EarlyStopping(n_samples, self._batch_size, tol, self.max_no_improvement,
                             self.verbose)

    def _inertia_and_labels(self, data, sample_weight, centres):
        """Exact inertia on all of ``data`` and, for in-memory input, the labels.

        One pass and one compute.

        Parameters
        ----------
        data : InputData
        sample_weight : dask.array.Array of shape (n_samples,) or None
        centres : ndarray of shape (n_clusters, n_features)

        Returns
        -------
        inertia : float
        labels : ndarray of shape (n_samples,), int32, or None
            None for dask-backed input.
        """
        stats = _graph.reduce_blocks(
            data.array, sample_weight, chunk_nearest_stats,
            size=nearest_stats_size(self.n_clusters), name="kmeans-inertia",
            split_every=self.split_every, centres=centres, check_finite=True,
        )
        labels = None
        if _in_memory(data):
            labels = _graph.map_rows(data.array, chunk_labels, name="kmeans-predict",
                                     dtype=np.int32, centres=centres)
        vector, labels = _graph.compute(stats, labels)
        _, inertia, nonfinite = unpack_nearest(vector, self.n_clusters)
        raise_if_nonfinite(nonfinite)
        return inertia, labels

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the centres with one mini-batch: all of ``X``.

        The first call initialises the centres from ``X`` (on ``init_size``
        of its rows for the sample-based inits). Follows scikit-learn's
        ``partial_fit`` step for step, with one random stream.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
            The batch. On dask input it is read in one pass (plus a gather of
            the rows of reassigned centres, if any, and a pass for
            ``inertia_`` with ``compute_labels=True``).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None
            Non-negative weights of the rows.

        Returns
        -------
        self : object
            Updated estimator.
        """
        with unchanged_on_error(self):
            self._partial_fit(X, sample_weight)
        return self

    def _partial_fit(self, X, sample_weight):
        """Body of ``partial_fit`` (see ``partial_fit``); may leave partial state on error."""
        has_centres = hasattr(self, "cluster_centers_")
        data = check_input(self, X, reset=not has_centres)
        weights = check_sample_weight(sample_weight, data)
        if not hasattr(self, "_random_state"):
            self._random_state = check_random_state(self.random_state)
        rng = self._random_state
        n_samples, n_features = data.array.shape
        if not has_centres:
            self._check_params_vs_input(data)
            centres = self._check_init_array(data)
            if centres is None and self._parallel_init:
                centres = self._seed_parallel(data, weights, rng)
            elif centres is None:
                request = request_rows(data.array, weights, self._sample_indices(rng, n_samples))
                rows, sample_weights = request.expand(
                    *_graph.compute(request.rows, request.weights)
                )
                raise_if_nonfinite(count_nonfinite(rows))
                centres = seed_from_sample(self.init, rows, sample_weights, self.n_clusters, rng)
            self._counts = np.zeros(self.n_clusters)
            self._n_since_last_reassign = 0
            self.n_steps_ = 0
        else:
            centres = self.cluster_centers_.astype(np.float64)
        state = MiniBatchState(centres, self._counts.astype(np.float64),
                               self._n_since_last_reassign)
        reassign = state.reassign_due(self._batch_size)
        stats = _graph.reduce_blocks(
            data.array, weights, chunk_lloyd_stats,
            size=lloyd_stats_size(self.n_clusters, n_features), name="kmeans-minibatch",
            split_every=self.split_every, centres=state.centres.astype(data.dtype),
            check_finite=True,
        )
        (vector,) = _graph.compute(stats)
        counts, sums, _, nonfinite = unpack_lloyd(vector, self.n_clusters, n_features)
        raise_if_nonfinite(nonfinite)
        state.update(counts, sums)
        if reassign and self.reassignment_ratio > 0:
            to_reassign, positions = state.reassignments(n_samples, self.reassignment_ratio, rng)
            if len(positions):
                if self.verbose:
                    print(f"[MiniBatchKMeans] Reassigning {len(positions)} cluster centers.")
                request = request_rows(data.array, None, positions)
                rows, _ = request.expand(*_graph.compute(request.rows, request.weights))
                state.reassign(to_reassign, rows)
        centres = state.centres.astype(data.dtype)
        if self.compute_labels:
            inertia, labels = self._inertia_and_labels(data, weights, centres)
            self.inertia_ = float(inertia)
            self.__dict__.pop("labels_", None)
            if labels is not None:
                self.labels_ = labels
        self.cluster_centers_ = centres
        self._counts = state.counts
        self._n_since_last_reassign = state.n_since_last_reassign
        self.n_steps_ += 1
        self._n_features_out = self.n_clusters
        return self

    # ---- outputs ----------------------------------------------------------------
    def _check_test_data(self, X):
        """Validate ``X`` against the fitted model.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        InputData
            Small in-memory input runs inline (``InputData.X``; see
            ``daskmix._validation``).
        """
        check_is_fitted(self)
        return check_input(self, X, reset=False, inline=True)

    def predict(self, X):
        """Index of the nearest cluster centre of each sample.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples,)
            int32; lazy for dask input.
        """
        data = self._check_test_data(X)
        labels = _graph.map_rows(data.X, chunk_labels, name="kmeans-predict",
                                 dtype=np.int32, centres=self.cluster_centers_)
        return wrap_rows(labels, data)

    def transform(self, X):
        """Euclidean distance of each sample to every cluster centre.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)

        Returns
        -------
        X_new : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_clusters)
            In the data's dtype; lazy for dask input; an xarray result has a
            ``cluster`` dimension.
        """
        data = self._check_test_data(X)
        distances = _graph.map_rows(
            data.X, chunk_distances, name="kmeans-transform",
            n_columns=self.n_clusters, dtype=data.dtype, centres=self.cluster_centers_,
        )
        return wrap_rows(distances, data, column_dim="cluster",
                         column_labels=np.arange(self.n_clusters))

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return the nearest cluster of each sample.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None

        Returns
        -------
        labels : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples,)
            ``labels_`` for NumPy input; lazy for dask input.
        """
        self.fit(X, sample_weight=sample_weight)
        if hasattr(self, "labels_") and not _xarray.is_dataarray(X):
            return self.labels_  # in-memory input: the labels are already there
        return self.predict(X)

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the distance of each sample to every cluster centre.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None

        Returns
        -------
        X_new : ndarray, dask.array.Array or xarray.DataArray of shape (n_samples, n_clusters)
        """
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of ``X``.

        Parameters
        ----------
        X : {array-like, dask.array.Array, DataFrame, xarray.DataArray} of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like or dask.array.Array of shape (n_samples,), default=None

        Returns
        -------
        score : float
            Computed, also for dask input (one pass).
        """
        data = self._check_test_data(X)
        weights = check_sample_weight(sample_weight, data)
        stats = _graph.reduce_blocks(
            data.X, weights, chunk_nearest_stats, size=nearest_stats_size(self.n_clusters),
            name="kmeans-score", split_every=self.split_every,
            centres=self.cluster_centers_, check_finite=True,
        )
        (vector,) = _graph.compute(stats)
        _, inertia, nonfinite = unpack_nearest(vector, self.n_clusters)
        raise_if_nonfinite(nonfinite)
        return -float(inertia)
