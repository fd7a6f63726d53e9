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
  block carries its components' statistics summed over all rows (its
  posterior is made from them when needed). The first blocks are built by
  a pass of the ring that only adds each partition's statistics
  (:meth:`_Run.build_blocks`).
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
  in the previous round): there is no global barrier. Large groups
  arrive one block at a time through small ``receive`` tasks
  (:meth:`_Run._receive_round`), so that a worker holds about ``1 / W +
  1 / P`` of the model at most. The client submits
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
* **The result.** The final blocks stay on the workers (statistics only).
  By default the client gathers the blocks' posteriors into the fitted
  attributes; with ``model_store`` it gathers nothing: the result's
  ``params`` is a :class:`~daskmix._dask.model_parallel.PinnedBlocks` of
  the blocks, which the estimator writes to the store from the workers
  that hold them, each block a piece of components at a time.
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
    :class:`~daskmix._dask.model_parallel.PinnedBlocks` of the ``blocks``.

    Attributes
    ----------
    blocks : list of distributed.Future
        Per block, in component order, the final
        :class:`~daskmix.mixture.variational.blocks.Block` on its worker.
    n_blocks : int
    recoveries : int
        Times the fit went back to its last pass after losing a worker.
    """

    blocks: list = field(default_factory=list)
    n_blocks: int = 0
    recoveries: int = 0


# ---- the tasks (run on the workers) -------------------------------------------
def _init_rows(X_blocks, weight_blocks, start, n_active):
    X = np.concatenate([np.asarray(b, dtype=np.float64) for b in X_blocks])
    weight = (None if weight_blocks[0] is None
              else np.concatenate([np.asarray(w, dtype=np.float64) for w in weight_blocks]))
    return _blocks.initial_rows(X, weight, start, n_active)


def _add_rows(rows, layout, ranges, n_features, with_bound, *parts):
    """A build round: ``rows``' statistics added to a group's blocks (``parts``; new if none).

    Returns ``(None, blocks, resp_log_resp, block bounds)`` as :func:`_step`
    does, the bound's terms only ``with_bound`` (the last round).
    """
    blocks = _receive(*parts)
    if not blocks:
        blocks = [_blocks.empty_block(index, start, stop, n_features, layout)
                  for index, (start, stop) in ranges]
    for block in blocks:
        _blocks.add_rows(block, rows, layout)
    return _with_bound(None, rows, blocks, layout, with_bound)


def _received(group):
    """A token that ``group`` has arrived (what the next receiver waits for); None."""
    return None


def _with_bound(new_rows, rows, blocks, layout, with_bound):
    """A round's result ``(new_rows, blocks, resp_log_resp, block bounds)``.

    The bound's terms (of ``rows`` and ``blocks``) only ``with_bound``,
    otherwise None.
    """
    if not with_bound:
        return new_rows, blocks, None, None
    return (new_rows, blocks, _blocks.resp_log_resp(rows),
            [_blocks.block_bound(b, layout) for b in blocks])


def _pick(value, key):
    """The part of a task's result a reference names (see ``_Run``)."""
    if key is None:
        return value
    return value[key]


def _receive(*parts, after=None):
    """A group of blocks, from whole groups and single blocks, on the worker that runs it.

    The step that follows depends on this task's result, a copy on its own
    worker: the previous holder's copy is released as soon as this task
    ends (at the start of the round), not when the step ends. ``after`` is
    only waited for (see ``_Run._receive_round``).
    """
    group = []
    for part in parts:
        group.extend(part if isinstance(part, list) else [part])
    return group


def _step(rows, layout, with_bound, *parts):
    """One block step: ``(rows, blocks, resp_log_resp, block bounds)``; the blocks in place.

    ``parts``: the group, as :meth:`_Run._receive_round` gives it. The
    lower-bound terms are computed only with ``with_bound`` (a pass's last
    round); otherwise they are None. The blocks are updated in place: their
    previous version is read by no other task.
    """
    blocks = _receive(*parts)
    rows = _blocks.step_rows(rows, blocks, layout)
    return _with_bound(rows, rows, blocks, layout, with_bound)


def _pick_block(step, i):
    """Block ``i`` of a step's group."""
    return step[1][i]


def _step_bound(step):
    """A last-round step's share of the lower bound: ``(resp_log_resp, [block bounds])``."""
    return step[2], step[3]


def _params_of(block, model):
    """A final block's first component and posterior (gathered with ``model_store=None``)."""
    return block.start, _blocks.block_posterior(block, model)


# ---- the policy (in the client) -----------------------------------------------------
class _Run:
    """One ESVI fit's futures: partitions, blocks, and where each lives."""

    def __init__(self, tasks, layout, start, n_blocks_per_worker, random_state,
                 ordered_bytes=0):
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
        largest = max(stop - start for start, stop in self.ranges)
        #: Whether groups move one block at a time (see :meth:`_receive_round`).
        self.ordered = (self.group * _blocks.block_nbytes(largest, len(layout.shift), layout)
                        >= ordered_bytes)
        # neighbouring means share a block: their rows' mass moves between them
        self.start = _blocks.ordered_start(start, self.n_blocks)
        self.plan = tasks.assign_chunks(n_workers)
        if not all(self.plan):
            raise ValueError(
                f"{_PURPOSE} gives each of the {n_workers} workers whole chunks of rows, "
                f"but X has fewer chunks than workers. Rechunk X into at least "
                f"{n_workers} row chunks."
            )
        # references (future, key): key None for a future of the thing itself
        # (rows, a block), or a position in a future of a list of blocks (a
        # group that travels whole)
        self.rows = [None] * n_workers
        self.blocks = [None] * self.n_blocks
        self.holder = [None] * self.n_blocks
        self.next_rounds = None
        self.pass_rows = []
        self.start_bounds = []

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
        """Every block from every partition's statistics, placed where the next pass starts.

        A pass of the ring that adds rows: in build round ``j`` partition
        ``w`` adds its rows' statistics to the group the first pass gives
        partition ``w + j + 1`` (mod ``n``), made empty in round 0; after
        ``n`` rounds every group holds every row and sits on its first
        holder. Groups move as in a pass (:meth:`_receive_round`).
        """
        self.next_rounds = _blocks.schedule(self.n_blocks, self.n_partitions, self.rng)
        first = self.next_rounds[0]
        n = self.n_partitions
        n_features = len(self.layout.shift)
        self.start_bounds = []
        for j in range(n):
            groups = [first[(w + j + 1) % n] for w in range(n)]
            held = self._receive_round(groups, j) if j else [[]] * n
            last = j == n - 1
            for w, group in enumerate(groups):
                worker = self.homes[w]
                name = self._name(worker)
                label = "-".join(str(b) for b in group)
                built = self.tasks.submit(
                    _add_rows, self.rows[w][0], self.layout,
                    [(b, self.ranges[b]) for b in group], n_features, last, *held[w],
                    worker=worker, label=f"stats-blocks-{label}-on-{name}")
                self._publish(built, group, worker, label, whole=not (last or self.ordered))
                if last:
                    self.start_bounds.append(self.tasks.submit(
                        _step_bound, built, worker=worker, label=f"bound-start-on-{name}"))

    def _publish(self, result, group, worker, label, *, whole):
        """Point the blocks of ``group`` at a step's (or build round's) ``result`` on ``worker``.

        ``whole``: one future of the group's list (it travels on whole);
        otherwise one future per block (moved one by one, see
        :meth:`_receive_round`).
        """
        name = self._name(worker)
        if whole:
            moving = self.tasks.submit(_pick, result, 1, worker=worker,
                                       label=f"blocks-{label}-on-{name}")
        for i, b in enumerate(group):
            self.blocks[b] = ((moving, i) if whole else (self.tasks.submit(
                _pick_block, result, i, worker=worker, label=f"block-{b}-on-{name}"), None))
            self.holder[b] = worker

    def _submit_receive(self, parts, worker, label, after=None):
        """A :func:`_receive` task on ``worker`` of ``parts`` (futures), after ``after``."""
        return self.tasks.submit(_receive, *parts, after=after, worker=worker,
                                 label=f"receive-{label}-on-{self._name(worker)}")

    def _receive_round(self, groups, number):
        """Each partition's group for a round, on its worker.

        Dask keeps a result on its worker until every task that reads it
        has finished, and a worker fetches a task's inputs as soon as the
        task is assigned to it. Were every group passed at once, a worker
        would hold the group it just updated (until its next holder is done
        with it), the group it receives, and possibly the next one: up to
        the whole model with three workers. Large groups (``ordered``, see
        :attr:`ordered`) therefore move one block at a time, in a chain of
        small receiving tasks: block ``i`` of partition ``w``'s group is
        received after block ``i`` of the group ``w`` held has been
        received by its next holder (a tiny ``received`` task is the
        token), partition after partition around the ring, then block
        ``i + 1``. A worker then holds ``g`` blocks, ``g + 1`` for the
        first receiver of the chain (rotating with ``number``): ``1 / W +
        1 / P`` of the model at most in a ring round. The chain costs ``W
        g`` transfer latencies per round, so small groups move at once:
        the step that reads them fetches them.

        Parameters
        ----------
        groups : list of tuple of int
            ``groups[w]``: the blocks partition ``w`` holds this round.
        number : int
            The round (any integer): the chain starts at partition ``number mod n``.

        Returns
        -------
        list of list of distributed.Future
            Per partition, futures of its group: one of the whole group's
            list, or one per block (a block, or a list of one); the task
            that reads them flattens them (:func:`_receive`).
        """
        n = len(groups)
        parts = [[self.blocks[b] for b in group] for group in groups]
        if self.ordered:
            after = None
            for i in range(len(groups[0])):
                for offset in range(n):
                    w = (number + offset) % n
                    b, worker = groups[w][i], self.homes[w]
                    if self.holder[b] == worker:
                        continue
                    parts[w][i] = (self._submit_receive([self.blocks[b][0]], worker, f"block-{b}",
                                                 after), 0)
                    after = self.tasks.submit(_received, parts[w][i][0], worker=worker,
                                              label=f"received-block-{b}-on-"
                                                    f"{self._name(worker)}")
        held = []
        for w, group in enumerate(groups):
            futures = [ref[0] for ref in parts[w]]
            whole = (len({f.key for f in futures}) == 1
                     and [ref[1] for ref in parts[w]] == list(range(len(group))))
            # a whole group (here, or fetched by the task that reads it: small
            # groups), or single blocks (possibly received one by one above)
            held.append(futures[:1] if whole else futures)
        return held

    def submit_pass(self, number):
        """Every round's steps of one pass; returns the futures of its lower bound.

        Each step's result is split at once, on its worker, into the rows
        (for the worker's next step), the group (for the next holder) and,
        in the last round, the blocks one by one (the groups change) and
        the bound's terms; the client keeps no reference to a step, so a
        group's previous version is released as soon as the next holder
        has received it (:meth:`_receive_round`).
        """
        rounds = self.next_rounds or _blocks.schedule(self.n_blocks, self.n_partitions,
                                                      self.rng)
        self.next_rounds = None
        bounds = []
        for j, groups in enumerate(rounds):
            last = j == len(rounds) - 1
            held = self._receive_round(groups, number * len(rounds) + j)
            for w, group in enumerate(groups):
                worker = self.homes[w]
                name = self._name(worker)
                label = "-".join(str(b) for b in group)
                step = self.tasks.submit(
                    _step, self.rows[w][0], self.layout, last, *held[w], worker=worker,
                    label=f"step-pass-{number}-blocks-{label}-on-{name}")
                self.rows[w] = (self.tasks.submit(_pick, step, 0, worker=worker,
                                                  label=f"rows-partition-{w}-on-{name}"), None)
                self._publish(step, group, worker, label, whole=not (last or self.ordered))
                if last:
                    bounds.append(self.tasks.submit(
                        _step_bound, step, worker=worker,
                        label=f"bound-pass-{number}-on-{name}"))
        # the rows at the end of the pass: what a recovery goes back to
        self.pass_rows = [ref[0] for ref in self.rows]
        return bounds

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
        """The final blocks (futures on their holders) and, with ``gather``, the whole posterior.

        Parameters
        ----------
        gather : bool, default=True
            Gather every block's posterior into the client; otherwise the
            second result is a ``PinnedBlocks`` of the blocks (each still on
            its worker, statistics only: a writer computes its posterior a
            piece at a time).

        Returns
        -------
        blocks : list of distributed.Future
            One per block, in component order.
        params : VariationalParams or PinnedBlocks
        """
        from daskmix._dask.model_parallel import PinnedBlocks

        final = [future if key is None else self.tasks.submit(
            _pick, future, key, worker=self.holder[b], label=f"block-{b}")
            for b, (future, key) in enumerate(self.blocks)]
        if not gather:
            # finished before the run's tasks are released (pending ones are cancelled)
            self.tasks.wait(final, set(self.homes))
            return final, PinnedBlocks(self.tasks, final, list(self.holder), self.ranges)
        model = self.layout.model
        parts = [self.tasks.submit(_params_of, final[b], model, worker=self.holder[b],
                                   label=f"gather-block-{b}")
                 for b in range(self.n_blocks)]
        gathered = self.tasks.gather(parts, set(self.homes))
        return final, _blocks.merge_params(gathered)


def run_esvi(tasks, layout, start, *, n_blocks_per_worker, max_iter, tol, random_state,
             on_iteration, lower_bound=-np.inf, max_recoveries=None, ordered_bytes=0,
             gather=True):
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
    ordered_bytes : int, default=0
        Groups of at least this many bytes move one block at a time
        (``_Run._receive_round``); smaller ones at once.
    gather : bool, default=True
        Gather the fitted posterior into the client (``result.params``);
        False leaves it on the workers: ``result.params`` is then a
        :class:`~daskmix._dask.model_parallel.PinnedBlocks` of the final
        blocks.

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

    run = _Run(tasks, layout, start, n_blocks_per_worker, random_state, ordered_bytes)
    result = ESVIResult(params=None, lower_bound=lower_bound, n_blocks=run.n_blocks)
    limit = run.n_partitions if max_recoveries is None else int(max_recoveries)
    window = _blocks.stop_window(run.n_blocks, run.n_partitions)
    for w in range(run.n_partitions):
        run.init_partition(w)
    run.build_blocks()
    # (pass number, or 0 / None for a fresh / recovered state; bound futures; rows futures)
    in_flight = [(0, run.start_bounds, [ref[0] for ref in run.rows])]
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
            in_flight = [(None, run.start_bounds, [ref[0] for ref in run.rows])]
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
        result.blocks, result.params = run.finish(gather)
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
        of the final blocks, which the estimator writes to the store.

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
                            ordered_bytes=_mp.ordered_transfer_bytes(),
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
