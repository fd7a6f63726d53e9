"""Model-parallel variational inference (ESVI), ``BayesianGaussianMixture(algorithm="esvi")``.

The maths are :mod:`~daskmix.mixture.variational.blocks`'; this module
places them on a ``distributed`` cluster and owns the policy.

* **Placement.** The data are persisted on the workers; each worker owns
  one *partition* of the rows (whole chunks, balanced, kept where they
  already live) and the rows' truncated variational distributions (at most
  ``n_active`` entries each), built there from the starting means
  (:func:`~daskmix.mixture.variational.blocks.initial_rows`). The ``K``
  components form ``P = g * n_workers`` blocks (``g`` blocks per worker,
  ``dask.config`` key ``daskmix.esvi.blocks-per-worker``, default 3); a
  block carries its components' statistics summed over all rows and their
  posterior. The first blocks are built from every partition's
  contribution (one task per partition and block, summed per block).
* **Schedule.** A pass is ``n_workers`` rounds; in round ``j`` worker ``w``
  holds group ``(w + j) mod n_workers`` of a shuffle of the blocks into
  ``n_workers`` groups of ``g`` (:func:`~daskmix.mixture.variational.blocks.schedule`,
  reshuffled every pass from ``random_state``), so every worker meets
  every block once a pass and the groups travel around a ring. One task
  per worker and round, pinned to the worker, named
  ``daskmix-esvi-step-pass-<p>-blocks-<b...>-on-<worker name>``: it moves
  its rows' mass within the group (Lemma 1) and updates the group's
  blocks by the rows' change of statistics. A task waits only for its
  own rows and for the blocks it receives (from the worker that held them
  in the previous round): there is no global barrier. The client submits
  the next pass before it reads the current one's lower bound, so the
  workers never wait for the client.
* **Determinism.** Within a round the groups are disjoint, so a round's
  tasks commute: the fit equals
  :func:`~daskmix.mixture.variational.blocks.run_sequential` on the same
  partitions, whatever the timing. A different number of workers changes
  the partitions and the schedule, hence the path of the coordinate
  ascent (not the fixed points it converges to).
* **Lower bound.** After each pass, the client gathers ``n_workers + P``
  scalars: each partition's ``sum w r log r`` and each block's share of the
  bound (:func:`~daskmix.mixture.variational.blocks.block_bound`); their
  sum is the evidence lower bound of the current distributions, exact (no
  term is stale: all come from the end of the same pass). It never
  decreases from pass to pass (every step is a coordinate ascent), up to
  rounding in the running statistics.
* **Stopping.** When the bound changed by less than ``tol`` over the last
  :func:`~daskmix.mixture.variational.blocks.stop_window` passes, or after
  ``max_iter`` passes. The pass already submitted when the test is met is
  kept (one more ascent pass: ``n_iter_`` counts it).
* **Worker loss.** The client polls the workers while it waits. If a
  worker holding state leaves, the fit goes back to the last pass whose
  bound it read: the surviving partitions keep their rows' distributions
  of that pass (their futures are held until the next bound is read), the
  lost partitions are rebuilt on a surviving worker from the data (the
  scheduler recomputes lost chunks from their source) and the starting
  means, and every block is rebuilt from all the rows' statistics, so the
  model is never built on statistics that lost rows no longer back. A
  warning says so; the bound dips and climbs again. Data that cannot be
  recomputed (``client.scatter``), or no worker left, stop the fit with
  :class:`~daskmix.exceptions.WorkerLostError`.
* **The result.** The final blocks stay on the workers, and each computes
  its slice of the fitted attributes there
  (:func:`~daskmix.mixture.variational.blocks.fitted_slice`). By default
  the client gathers the blocks' posteriors into the fitted attributes;
  with ``model_store`` it gathers nothing: the result's ``params`` is a
  :class:`~daskmix._dask.model_parallel.PinnedBlocks` of the slices, which
  the estimator writes to the store block by block, from the workers that
  hold them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from daskmix.exceptions import WorkerLostError
from daskmix.mixture.algorithms._base import Algorithm
from daskmix.mixture.algorithms.em import RunResult
from daskmix.mixture.variational import blocks as _blocks

__all__ = ["ESVI", "ESVIResult", "run_esvi"]

#: What needs a client, in error messages.
_PURPOSE = 'algorithm="esvi"'


@dataclass
class ESVIResult(RunResult):
    """:class:`RunResult` plus the blocks left on the workers.

    ``params`` is the whole posterior gathered in the client
    (``VariationalParams``), or, for a run that does not gather it, a
    :class:`~daskmix._dask.model_parallel.PinnedBlocks` of the
    ``block_slices``.

    Attributes
    ----------
    block_slices : list of distributed.Future
        Per block, in component order, a dict of the block's slice of the
        fitted attributes and its ``slice`` ``(start, stop)``
        (:func:`~daskmix.mixture.variational.blocks.fitted_slice`).
    n_blocks : int
    recoveries : int
        Times the fit went back to its last pass after losing a worker.
    """

    block_slices: list = field(default_factory=list)
    n_blocks: int = 0
    recoveries: int = 0


# ---- the tasks (run on the workers) -------------------------------------------
def _init_rows(X_blocks, weight_blocks, start, n_active):
    X = np.concatenate([np.asarray(b, dtype=np.float64) for b in X_blocks])
    weight = (None if weight_blocks[0] is None
              else np.concatenate([np.asarray(w, dtype=np.float64) for w in weight_blocks]))
    return _blocks.initial_rows(X, weight, start, n_active)


def _accumulate(total, rows, index, start, stop, layout, last):
    """``total`` plus a partition's statistics on a block; the block itself when ``last``.

    The blocks are built along a chain through the partitions, so that no
    worker holds more than two block-sized arrays (not one per partition).
    """
    part = _blocks.row_contribution(rows, start, stop, layout)
    if total is not None:
        for a, b in zip(total, part):
            a += b
        part = total
    if last:
        return _blocks.block_from_stats(index, start, stop, *part, layout)
    return part


def _pick(value, key):
    """The part of a task's result a reference names (see ``_Run``)."""
    if key is None:
        return value
    if key == "rows":
        return value[0]
    if key == "blocks":
        return value[1]
    return value[key]


def _pick_block(step, i):
    """Block ``i`` of a step's result."""
    return step[1][i]


def _step(rows, rows_key, layout, *block_refs):
    """One block step; returns ``(rows, blocks, resp_log_resp, block bounds)``."""
    rows = _pick(rows, rows_key)
    blocks = [_pick(v, k) for v, k in zip(block_refs[::2], block_refs[1::2])]
    rows, deltas = _blocks.step_rows(rows, blocks, layout)
    # in place: the previous version of a block is read by no other task
    blocks = [_blocks.apply_delta(b, d, layout, in_place=True) for b, d in zip(blocks, deltas)]
    return (rows, blocks, _blocks.resp_log_resp(rows),
            [_blocks.block_bound(b, layout) for b in blocks])


def _step_bound(step):
    """A last-round step's share of the lower bound: ``(resp_log_resp, [block bounds])``."""
    return step[2], step[3]


def _start_bound(layout, rows, *blocks):
    """The lower-bound terms of one partition's rows and of blocks on the same worker."""
    return _blocks.resp_log_resp(rows), [_blocks.block_bound(b, layout) for b in blocks]


def _fitted_slice(block, key, model):
    return _blocks.fitted_slice(_pick(block, key), model)


def _params_of(block, key, model):
    block = _pick(block, key)
    return block.start, _blocks.block_posterior(block, model)


# ---- the policy (in the client) -----------------------------------------------------
class _Run:
    """One ESVI fit's futures: partitions, blocks, and where each lives."""

    def __init__(self, tasks, layout, start, n_blocks_per_worker, random_state):
        self.tasks = tasks
        self.layout = layout
        self.start = start
        self.rng = random_state
        self.homes = tasks.workers()
        n_workers = len(self.homes)
        n_components = layout.n_components
        if n_components < n_workers:
            raise ValueError(
                f"{_PURPOSE} splits the components into blocks of at least one per worker: "
                f"n_components={n_components} is less than the {n_workers} workers. "
                "Use fewer workers or more components."
            )
        self.group = max(1, min(int(n_blocks_per_worker), n_components // n_workers))
        self.n_blocks = self.group * n_workers
        self.ranges = _blocks.block_ranges(n_components, self.n_blocks)
        # neighbouring means share a block: their rows' mass moves between them
        self.start = _blocks.ordered_start(start, self.n_blocks)
        self.plan = tasks.assign_chunks(n_workers)
        if not all(self.plan):
            raise ValueError(
                f"{_PURPOSE} gives each of the {n_workers} workers whole chunks of rows, "
                f"but X has fewer chunks than workers. Rechunk X into at least "
                f"{n_workers} row chunks."
            )
        # references (future, key): key None for the whole result, "rows" for
        # the rows of a step's result (read on the same worker), a position in
        # a group's list of blocks (what travels to the next worker)
        self.rows = [None] * n_workers
        self.blocks = [None] * self.n_blocks
        self.holder = [None] * self.n_blocks
        self.next_rounds = None
        self.pass_rows = []

    @property
    def n_partitions(self):
        return len(self.homes)

    def _name(self, worker):
        return self.tasks.names.get(worker, worker).replace("tcp://", "").replace(":", "_")

    def init_partition(self, w):
        """Build partition ``w``'s rows from the data on its home worker."""
        worker = self.homes[w]
        self.rows[w] = (self.tasks.submit_on_chunks(
            _init_rows, self.plan[w], worker=worker,
            label=f"rows-partition-{w}-on-{self._name(worker)}",
            start=self.start, n_active=self.layout.n_active), None)

    def build_blocks(self):
        """Every block from every partition's statistics, placed where the next pass starts."""
        self.next_rounds = _blocks.schedule(self.n_blocks, self.n_partitions, self.rng)
        n = self.n_partitions
        for groups_w, group in enumerate(self.next_rounds[0]):
            for b in group:
                start, stop = self.ranges[b]
                # a chain through the partitions that ends on the block's first holder
                total = None
                for step in range(1, n + 1):
                    w = (groups_w + step) % n
                    worker = self.homes[w]
                    total = self.tasks.submit(
                        _accumulate, total, self.rows[w][0], b, start, stop, self.layout,
                        step == n, worker=worker,
                        label=f"stats-block-{b}-on-{self._name(worker)}")
                self.blocks[b] = (total, None)
                self.holder[b] = self.homes[groups_w]

    def submit_pass(self, number):
        """Every round's steps of one pass; returns the futures of its lower bound."""
        rounds = self.next_rounds or _blocks.schedule(self.n_blocks, self.n_partitions,
                                                      self.rng)
        self.next_rounds = None
        last = []
        for groups in rounds:
            last = []
            for w, group in enumerate(groups):
                worker = self.homes[w]
                label = "-".join(str(b) for b in group)
                refs = [x for b in group for x in self.blocks[b]]
                step = self.tasks.submit(
                    _step, *self.rows[w], self.layout, *refs, worker=worker,
                    label=f"step-pass-{number}-blocks-{label}-on-{self._name(worker)}")
                self.rows[w] = (step, "rows")
                if groups is rounds[-1]:
                    # the pass's last round: blocks one by one, the groups change
                    for i, b in enumerate(group):
                        self.blocks[b] = (self.tasks.submit(
                            _pick_block, step, i, worker=worker,
                            label=f"block-{b}-on-{self._name(worker)}"), None)
                        self.holder[b] = worker
                else:
                    # the group travels whole to the next worker, without the rows
                    moving = self.tasks.submit(_pick, step, "blocks", worker=worker,
                                               label=f"blocks-{label}-on-{self._name(worker)}")
                    for i, b in enumerate(group):
                        self.blocks[b] = (moving, i)
                        self.holder[b] = worker
                last.append((step, worker, group))
        # the rows alone at the end of the pass: what a recovery goes back to
        self.pass_rows = [
            self.tasks.submit(_pick, step, "rows", worker=worker,
                              label=f"rows-partition-{w}-on-{self._name(worker)}")
            for w, (step, worker, _) in enumerate(last)]
        return [self.tasks.submit(_step_bound, step, worker=worker,
                                  label=f"bound-pass-{number}-on-{self._name(worker)}")
                for step, worker, _ in last]

    def bound_futures(self):
        """The lower-bound terms of the current state (after building it)."""
        on = {}
        for b in range(self.n_blocks):
            on.setdefault(self.holder[b], []).append(b)
        futures = []
        for w, worker in enumerate(self.homes):
            # blocks go with the first partition on their worker (all partitions
            # live on workers holding blocks after a build)
            mine = on.pop(worker, [])
            refs = [self.blocks[b] for b in mine]
            futures.append(self.tasks.submit(
                _start_bound, self.layout, self.rows[w][0],
                *[self._resolved(r) for r in refs], worker=worker,
                label=f"bound-start-on-{self._name(worker)}"))
        return futures

    def _resolved(self, ref):
        future, key = ref
        if key is None:
            return future
        raise AssertionError("a built state holds whole blocks")  # pragma: no cover

    def lower_bound(self, futures):
        """The lower bound from gathered ``(resp_log_resp, [block bounds])`` pairs."""
        values = self.tasks.gather(futures, set(self.homes))
        return _blocks.lower_bound([v[0] for v in values],
                                   [b for v in values for b in v[1]], self.layout)

    def recover(self, checkpoint, lost):
        """After losing ``lost`` workers: back to ``checkpoint`` (rows futures), rebuilt blocks."""
        alive = [w for w in self.tasks.workers() if w in set(self.homes) - lost]
        if not alive:
            raise WorkerLostError(
                f"{_PURPOSE} lost every worker that held its state ({sorted(lost)}); "
                "no worker is left to continue on. Restart the workers and fit again."
            )
        keep = {f.key for f in checkpoint}
        self.tasks.cancel([ref[0] for ref in [*self.rows, *self.blocks]
                           if ref is not None and ref[0].key not in keep])
        for w, home in enumerate(self.homes):
            if home in lost:
                load = {a: self.homes.count(a) for a in alive}
                self.homes[w] = min(alive, key=lambda a: load[a])
                self.init_partition(w)
            else:
                self.rows[w] = (checkpoint[w], None)
        self.build_blocks()

    def finish(self, gather=True):
        """The blocks' slices (futures) and the whole posterior, or the slices left on the workers.

        Parameters
        ----------
        gather : bool, default=True
            Gather every block's posterior into the client; otherwise wait
            for the slices and return them as ``PinnedBlocks``.

        Returns
        -------
        slices : list of distributed.Future
        params : VariationalParams or PinnedBlocks
        """
        from daskmix._dask.model_parallel import PinnedBlocks

        model = self.layout.model
        slices = [self.tasks.submit(_fitted_slice, *self.blocks[b], model,
                                    worker=self.holder[b], label=f"slice-block-{b}")
                  for b in range(self.n_blocks)]
        if not gather:
            # finished before the run's tasks are released (pending ones are cancelled)
            self.tasks.wait(slices, set(self.homes))
            return slices, PinnedBlocks(self.tasks, slices, list(self.holder), self.ranges)
        parts = [self.tasks.submit(_params_of, *self.blocks[b], model, worker=self.holder[b],
                                   label=f"gather-block-{b}")
                 for b in range(self.n_blocks)]
        gathered = self.tasks.gather(parts, set(self.homes))
        return slices, _blocks.merge_params(gathered)


def run_esvi(tasks, layout, start, *, n_blocks_per_worker, max_iter, tol, random_state,
             on_iteration, lower_bound=-np.inf, max_recoveries=None, gather=True):
    """ESVI passes on the workers of ``tasks`` until the bound settles or ``max_iter``.

    Parameters
    ----------
    tasks : daskmix._dask.model_parallel.PinnedTasks
    layout : BlockLayout
    start : dict
        :func:`~daskmix.mixture.variational.blocks.spherical_start`'s.
    n_blocks_per_worker : int
    max_iter : int
        Most passes (passes redone after a worker loss count).
    tol : float
    random_state : numpy.random.RandomState
    on_iteration : callable
        ``on_iteration(n_iter, lower_bound, change)`` after every pass.
    lower_bound : float, default=-inf
        The bound before the fit (for the first ``change``).
    max_recoveries : int or None, default=None
        Worker losses survived at most; None for as many as the workers.
    gather : bool, default=True
        Gather the fitted posterior into the client (``result.params``);
        False leaves it on the workers: ``result.params`` is then a
        :class:`~daskmix._dask.model_parallel.PinnedBlocks` of the blocks'
        fitted slices.

    Returns
    -------
    ESVIResult

    Raises
    ------
    WorkerLostError
        When no worker is left, after ``max_recoveries`` recoveries, or when
        a worker is lost while the result is collected.
    """
    from daskmix._dask.model_parallel import WorkerLost

    run = _Run(tasks, layout, start, n_blocks_per_worker, random_state)
    result = ESVIResult(params=None, lower_bound=lower_bound, n_blocks=run.n_blocks)
    limit = run.n_partitions if max_recoveries is None else int(max_recoveries)
    window = _blocks.stop_window(run.n_blocks, run.n_partitions)
    for w in range(run.n_partitions):
        run.init_partition(w)
    run.build_blocks()
    # (pass number, or 0 / None for a fresh / recovered state; bound futures; rows futures)
    in_flight = [(0, run.bound_futures(), [ref[0] for ref in run.rows])]
    checkpoint = in_flight[0][2]
    history, submitted, stopping, previous = [], 0, False, lower_bound
    while in_flight:
        # one pass ahead of the bound being read: the workers never wait for the client
        passes = sum(1 for n, _, _ in in_flight if n)
        if len(in_flight) < 2 and not stopping and result.n_iter + passes < max_iter:
            submitted += 1
            in_flight.append((submitted, run.submit_pass(submitted), run.pass_rows))
        number, futures, rows = in_flight[0]
        try:
            bound = run.lower_bound(futures)
        except WorkerLost as lost:
            if result.recoveries >= limit:
                raise WorkerLostError(
                    f"{_PURPOSE}: {lost}, after {result.recoveries} recoveries; giving up. "
                    "Check the workers' memory limits and logs, and fit again."
                ) from lost
            warnings.warn(
                f"{_PURPOSE}: {lost}. The fit goes back to its last completed pass, "
                "rebuilds the lost rows from the data on the remaining workers and "
                "recomputes every parameter block from all the rows.",
                RuntimeWarning, stacklevel=3)
            result.recoveries += 1
            run.recover(checkpoint, lost.addresses)
            in_flight = [(None, run.bound_futures(), [ref[0] for ref in run.rows])]
            history, stopping = [], False
            continue
        in_flight.pop(0)
        checkpoint = rows
        history.append(bound)
        if number:
            result.n_iter += 1
            result.lower_bounds.append(bound)
            on_iteration(result.n_iter, bound, bound - previous)
        previous = result.lower_bound = bound
        if not stopping and _blocks.converged(history, window, tol):
            result.converged = stopping = True  # the pass in flight is the last
    try:
        result.block_slices, result.params = run.finish(gather)
    except WorkerLost as lost:
        raise WorkerLostError(
            f"{_PURPOSE}: {lost} while the fitted blocks were collected; they are lost "
            "with it. Fit again."
        ) from lost
    return result


class ESVI(Algorithm):
    """Model-parallel variational inference over parameter blocks on a ``distributed`` cluster.

    Reads ``n_active`` (entries each row keeps). Needs a Dirichlet
    distribution weight prior (``weight_concentration_prior_type=
    "dirichlet_distribution"``) and a covariance type with one matrix per
    component (``full``, ``diag``, ``spherical``).
    """

    name = "esvi"
    covariance_types = frozenset({"full", "diag", "spherical"})
    #: The ``weight_concentration_prior_type`` values it fits (see :meth:`check`).
    weight_priors = frozenset({"dirichlet_distribution"})
    #: It runs on a ``distributed`` client only.
    needs_client = True
    #: Its run reads the start's means, weights and mean variances only.
    start_covariance_type = "spherical"
    #: ``model_store`` set: the fitted blocks stay on the workers (see :meth:`run`).
    parameters = frozenset({"n_active", "model_store"})
    iteration_unit = "pass"
    iteration_units = "passes"
    lower_bound_name = "evidence lower bound of the truncated posteriors (constants dropped)"

    def check(self, estimator, n_features):
        """Raise for a Dirichlet-process prior, or when there is no ``distributed`` client.

        Parameters
        ----------
        estimator : BayesianGaussianMixture
        n_features : int

        Raises
        ------
        ValueError
            For ``weight_concentration_prior_type="dirichlet_process"``.
        daskmix.exceptions.NoClientError
            Saying how to start a client.
        """
        if estimator.weight_concentration_prior_type not in self.weight_priors:
            raise ValueError(
                f"{_PURPOSE} supports weight_concentration_prior_type="
                "'dirichlet_distribution' only, got weight_concentration_prior_type="
                f"{estimator.weight_concentration_prior_type!r}: a Dirichlet process couples "
                "every component's weight to the counts of all the components after it, "
                "which the parameter blocks do not hold. Set "
                "weight_concentration_prior_type='dirichlet_distribution'."
            )
        from daskmix._dask import model_parallel as _mp

        _mp.client_for(_PURPOSE)

    def progress_scale(self, settings, n_samples):
        """``max_iter`` passes of ``n_samples`` rows each."""
        return settings.max_iter, n_samples, 1

    def run(self, settings, data, sample_weight, params, lower_bound, on_iteration, *,
            random_state, previous=None):
        """ESVI passes on the current ``distributed`` client; see :meth:`Algorithm.run`.

        ``params`` is a starting posterior of any covariance type (a fresh
        start is spherical, see :attr:`start_covariance_type`; a warm start
        the fitted one): the run reads its
        :func:`~daskmix.mixture.variational.blocks.spherical_start` and its
        expected weights' mean of the means. With the ``model_store``
        option set, the fitted posterior is not gathered: the result's
        ``params`` is a :class:`~daskmix._dask.model_parallel.PinnedBlocks`
        of the blocks' fitted slices, which the estimator writes to the
        store.

        Returns
        -------
        ESVIResult
        """
        from daskmix._dask import model_parallel as _mp

        model = settings.options["model"]
        layout = block_layout(model, params, settings.options["total_weight"],
                              settings.n_components, settings.options["n_active"], data.dtype)
        start = _blocks.spherical_start(model, params)
        client = _mp.client_for(_PURPOSE)
        with _mp.PinnedTasks(client, data.array, sample_weight, name="esvi") as tasks:
            return run_esvi(tasks, layout, start,
                            n_blocks_per_worker=_mp.blocks_per_worker(),
                            max_iter=settings.max_iter, tol=settings.tol,
                            random_state=random_state, on_iteration=on_iteration,
                            lower_bound=lower_bound,
                            gather=settings.options.get("model_store") is None)


def block_layout(model, params, total_weight, n_components, n_active, dtype):
    """The :class:`~daskmix.mixture.variational.blocks.BlockLayout` of a fit.

    Parameters
    ----------
    model : VariationalModel
    params : VariationalParams
        The starting posterior (its expected weights' mean of the means is
        the fixed shift).
    total_weight : float
        The data's total weight.
    n_components, n_active : int
    dtype : numpy dtype
        The data's.

    Returns
    -------
    BlockLayout
    """
    eps = 10 * np.finfo(dtype).eps
    shift = model.weights(params) @ params.means
    total = n_components * (model.priors.weight_concentration + eps) + float(total_weight)
    return _blocks.BlockLayout(model, shift, total, eps, min(int(n_active), n_components),
                               int(n_components))
