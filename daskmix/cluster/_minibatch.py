"""Mini-batch k-means policy: the centre update, reassignments, early stopping.

Pure NumPy and Python, no dask: these functions see one in-memory batch, or
the statistics of one batch, at a time. They follow scikit-learn's
``MiniBatchKMeans`` (Sculley, *Web-Scale K-Means Clustering*, WWW 2010):

* each centre moves to the running weighted mean of every row ever assigned
  to it, ``c <- (c n + sum_batch w x) / (n + sum_batch w)`` (a per-centre
  learning rate ``1 / n``); a centre with no batch weight stays put;
* every ``10 * n_clusters`` rows (and whenever a centre has no weight yet),
  centres whose weight is below ``reassignment_ratio`` times the largest are
  moved to random rows of the current batch (at most half the batch), and
  their weight set to the smallest remaining one;
* early stopping watches an exponentially weighted average of the batch
  inertia per row (``alpha = 2 batch / (n + 1)``): it stops after
  ``max_no_improvement`` steps without a new minimum, or, with ``tol > 0``,
  when the squared centre change is at most ``tol`` times the mean feature
  variance.

Centres and weights are kept in float64 whatever the data's dtype, so the
running means of long float32 fits do not stall (scikit-learn keeps them in
the data's dtype).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daskmix.cluster._kmeans_kernels import chunk_lloyd_stats, unpack_lloyd

__all__ = ["EarlyStopping", "MiniBatchState", "minibatch_step"]


@dataclass
class MiniBatchState:
    """What mini-batch k-means carries from one step to the next.

    Attributes
    ----------
    centres : ndarray of shape (n_clusters, n_features), float64
    counts : ndarray of shape (n_clusters,), float64
        Weight of the rows assigned to each centre so far.
    n_since_last_reassign : int
        Rows counted since the last reassignment check that fired.
    """

    centres: np.ndarray
    counts: np.ndarray
    n_since_last_reassign: int = 0

    def reassign_due(self, batch_size):
        """Count one batch; True when reassignment should be tried after this step.

        Parameters
        ----------
        batch_size : int
            The rows one step counts (the estimator's ``_batch_size``).

        Returns
        -------
        bool
        """
        self.n_since_last_reassign += batch_size
        if (self.counts == 0).any() or self.n_since_last_reassign >= 10 * len(self.centres):
            self.n_since_last_reassign = 0
            return True
        return False

    def update(self, batch_counts, batch_sums):
        """Move each centre to the running mean of the rows assigned to it.

        Parameters
        ----------
        batch_counts : ndarray of shape (n_clusters,)
            Batch weight assigned to each centre.
        batch_sums : ndarray of shape (n_clusters, n_features)
            Weighted sum of the batch rows assigned to each centre.
        """
        moved = batch_counts > 0
        new_counts = self.counts[moved] + batch_counts[moved]
        self.centres[moved] = (
            self.centres[moved] * self.counts[moved, None] + batch_sums[moved]
        ) / new_counts[:, None]
        self.counts[moved] = new_counts

    def reassignments(self, n_batch, reassignment_ratio, rng):
        """Which centres to move, and to which rows of the batch.

        Parameters
        ----------
        n_batch : int
            Rows in the batch.
        reassignment_ratio : float
        rng : numpy.random.RandomState

        Returns
        -------
        to_reassign : ndarray of bool, shape (n_clusters,)
        rows : ndarray of int64
            Positions in the batch of the new centres, one per ``True``.
        """
        counts = self.counts
        to_reassign = counts < reassignment_ratio * counts.max()
        # at most half the batch becomes new centres: keep the heaviest
        if to_reassign.sum() > 0.5 * n_batch:
            to_reassign[np.argsort(counts)[int(0.5 * n_batch):]] = False
        n_reassign = int(to_reassign.sum())
        if not n_reassign:
            return to_reassign, np.empty(0, dtype=np.int64)
        return to_reassign, rng.choice(n_batch, replace=False, size=n_reassign)

    def reassign(self, to_reassign, rows):
        """Move the centres ``to_reassign`` to ``rows``.

        Their weights become the smallest weight of the centres kept, so that
        they are not reassigned again at once (this also sets their learning
        rate, as in scikit-learn).

        Parameters
        ----------
        to_reassign : ndarray of bool, shape (n_clusters,)
        rows : ndarray of shape (n_reassign, n_features)
        """
        self.centres[to_reassign] = rows
        if (~to_reassign).any():
            self.counts[to_reassign] = self.counts[~to_reassign].min()


def minibatch_step(state, X, sample_weight, rng, *, batch_size, reassignment_ratio,
                   verbose=0):
    """One mini-batch update of ``state`` on an in-memory batch.

    Parameters
    ----------
    state : MiniBatchState
        Updated in place.
    X : ndarray of shape (n_batch, n_features)
    sample_weight : ndarray of shape (n_batch,) or None
    rng : numpy.random.RandomState
        Draws the rows of reassigned centres.
    batch_size : int
        Rows counted towards the next reassignment.
    reassignment_ratio : float
    verbose : int, default=0

    Returns
    -------
    inertia : float
        Weighted inertia of the batch under the centres before the update.
    """
    reassign = state.reassign_due(batch_size)
    n_clusters, n_features = state.centres.shape
    weights = None if sample_weight is None else sample_weight[:, None]
    stats = chunk_lloyd_stats(X, weights, state.centres.astype(X.dtype))
    counts, sums, inertia, _ = unpack_lloyd(stats, n_clusters, n_features)
    state.update(counts, sums)
    if reassign and reassignment_ratio > 0:
        to_reassign, rows = state.reassignments(len(X), reassignment_ratio, rng)
        if len(rows):
            if verbose:
                print(f"[MiniBatchKMeans] Reassigning {len(rows)} cluster centers.")
            state.reassign(to_reassign, X[rows])
    return inertia


@dataclass
class EarlyStopping:
    """scikit-learn's mini-batch convergence test, step by step.

    Parameters
    ----------
    n_samples : int
        Rows in the training data (sets the averaging rate).
    batch_size : int
    tol : float
        Already scaled by the mean feature variance; 0 disables the test on
        the centre change.
    max_no_improvement : int or None
    verbose : int, default=0

    Attributes
    ----------
    ewa_inertia : float or None
        Smoothed batch inertia per row (from the second step on).
    ewa_inertia_min : float or None
    no_improvement : int
    last_inertia : float or None
        The latest batch inertia per row.
    """

    n_samples: int
    batch_size: int
    tol: float
    max_no_improvement: object
    verbose: int = 0
    ewa_inertia: object = None
    ewa_inertia_min: object = None
    no_improvement: int = 0
    last_inertia: object = None

    @property
    def smoothed_inertia(self):
        """The smoothed batch inertia per row, or the latest one before smoothing starts."""
        return self.last_inertia if self.ewa_inertia is None else self.ewa_inertia

    def converged(self, step, n_steps, centres_squared_diff, batch_inertia):
        """Record step ``step`` (0-based); True when the fit should stop.

        Parameters
        ----------
        step, n_steps : int
        centres_squared_diff : float
            Squared change of the centres in this step (0 when ``tol == 0``).
        batch_inertia : float
            Inertia of the batch before the update.

        Returns
        -------
        bool
        """
        batch_inertia /= self.batch_size
        self.last_inertia = batch_inertia
        step += 1
        # the first step's inertia is that of the initialisation
        if step == 1:
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch inertia: {batch_inertia}")
            return False
        if self.ewa_inertia is None:
            self.ewa_inertia = batch_inertia
        else:
            alpha = min(self.batch_size * 2.0 / (self.n_samples + 1), 1.0)
            self.ewa_inertia = self.ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if self.verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                  f"{batch_inertia}, ewa inertia: {self.ewa_inertia}")
        if self.tol > 0.0 and centres_squared_diff <= self.tol:
            if self.verbose:
                print(f"Converged (small centers change) at step {step}/{n_steps}")
            return True
        if self.ewa_inertia_min is None or self.ewa_inertia < self.ewa_inertia_min:
            self.no_improvement = 0
            self.ewa_inertia_min = self.ewa_inertia
        else:
            self.no_improvement += 1
        if self.max_no_improvement is not None and self.no_improvement >= self.max_no_improvement:
            if self.verbose:
                print(f"Converged (lack of improvement in inertia) at step {step}/{n_steps}")
            return True
        return False
