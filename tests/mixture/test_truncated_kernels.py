"""Truncated-EM kernels against dense NumPy references and brute force."""

import numpy as np
import pytest
from scipy.special import logsumexp

from daskmix.mixture._params import GaussianParams, estep_params
from daskmix.mixture.algorithms.truncated import (
    initial_neighbours,
    link_reseeded,
    update_neighbours,
)
from daskmix.mixture.covariance import get_covariance_type
from daskmix.mixture.kernels import truncated as kernels
from daskmix.mixture.kernels.pairs import PAIR_EVALUATORS, get_pair_evaluator
from daskmix.mixture.kernels.suffstats import StatsLayout, estimate_weighted_log_prob
from daskmix.mixture.kernels.truncated_block import (
    BlockStats,
    PassInputs,
    initial_active_block,
    merge_block_stats,
    random_candidates,
    truncated_block,
)

N_ROWS, N_FEATURES, N_COMPONENTS = 300, 4, 9


def _covariance(name):
    """The covariance type of a registry name (``factor`` bound to two factors)."""
    return get_covariance_type(name, n_factors=2)


def _random_params(covariance, rng, n_components=N_COMPONENTS, n_features=N_FEATURES):
    means = rng.normal(0, 3, size=(n_components, n_features)) + 20.0
    if covariance.name == "factor":  # [loadings | noise variances]
        cov = np.concatenate([rng.normal(size=(n_components, n_features, 2)),
                              rng.uniform(0.5, 2.0, size=(n_components, n_features, 1))],
                             axis=2)
    elif covariance.name == "full":
        A = rng.normal(size=(n_components, n_features, n_features))
        cov = A @ np.swapaxes(A, 1, 2) + np.eye(n_features)
    elif covariance.name == "diag":
        cov = rng.uniform(0.5, 2.0, size=(n_components, n_features))
    else:
        cov = rng.uniform(0.5, 2.0, size=n_components)
    weights = rng.dirichlet(np.ones(n_components))
    return GaussianParams(weights, means, cov, covariance.precision_cholesky(cov))


def _setting(name, rng):
    """A covariance type's strategy, random parameters, rows near them, their
    float64 E-step parameters and the type's pair evaluator."""
    covariance = _covariance(name)
    params = _random_params(covariance, rng)
    X = rng.normal(0, 3, size=(N_ROWS, N_FEATURES)) + 20.0
    return (covariance, params, X, estep_params(covariance, params, np.float64),
            get_pair_evaluator(name))


def _space(rng, n_rows=N_ROWS, n_components=N_COMPONENTS, n_active=3, n_neighbors=4):
    active = np.array([rng.permutation(n_components)[:n_active] for _ in range(n_rows)],
                      dtype=np.int32)
    neighbours = initial_neighbours(rng.normal(size=(n_components, 2)), n_neighbors)
    randoms = rng.integers(0, n_components, size=(n_rows, 1)).astype(np.int32)
    space = np.empty((n_rows, n_active * neighbours.shape[1] + 1), dtype=np.int32)
    counts = np.empty(n_rows, dtype=np.int64)
    structured = np.empty(n_rows, dtype=np.int64)
    kernels.search_space(active, neighbours, randoms, space, counts, structured)
    return active, neighbours, randoms, space, counts, structured


def _neighbourhood_members(active, neighbours):
    """Per row, the set of components of ``S(n)`` that come from the neighbourhoods."""
    return [{int(k) for c in row for k in neighbours[c] if k >= 0} for row in active]


@pytest.mark.parametrize("name", sorted(PAIR_EVALUATORS))
@pytest.mark.parametrize("n_active", [1, 3, N_COMPONENTS])
def test_initial_active_are_the_most_probable_components(name, n_active):
    rng = np.random.default_rng(0)
    covariance = _covariance(name)
    params = _random_params(covariance, rng)
    X = rng.normal(0, 3, size=(N_ROWS, N_FEATURES)) + 20.0
    kp = estep_params(covariance, params, np.float64)
    out = initial_active_block(X, 0, params=kp, n_active=n_active)
    dense = estimate_weighted_log_prob(X - kp.shift, kp)
    expected = np.argsort(-dense, axis=1, kind="stable")[:, :n_active]
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.uint16  # K(n)'s dtype for up to 65,536 components


def test_search_space_is_the_deduplicated_union():
    rng = np.random.default_rng(2)
    active, neighbours, randoms, space, counts, structured = _space(rng)
    members = _neighbourhood_members(active, neighbours)
    for i in range(N_ROWS):
        expected = members[i] | set(randoms[i].tolist())
        got = space[i, : counts[i]].tolist()
        assert len(got) == len(set(got))  # no duplicates
        assert set(got) == expected  # the brute-force |S(n)| and members
        assert set(active[i].tolist()) <= set(got)
        # the neighbourhoods' members first, then the random candidates not among them
        assert set(got[: structured[i]]) == members[i]
    assert np.any(structured < counts)  # some random candidates are new members


def test_search_space_skips_padding():
    neighbours = np.array([[0, 1, -1], [1, -1, -1], [2, 0, 1]], dtype=np.int32)
    active = np.array([[1], [0]], dtype=np.int32)
    randoms = np.array([[1], [2]], dtype=np.int32)
    space = np.empty((2, 4), dtype=np.int32)
    counts = np.empty(2, dtype=np.int64)
    structured = np.empty(2, dtype=np.int64)
    kernels.search_space(active, neighbours, randoms, space, counts, structured)
    assert counts.tolist() == [1, 3]
    assert structured.tolist() == [1, 2]
    assert space[1, :3].tolist() == [0, 1, 2]


#: Evaluators with separate log-joint and moment steps (the diagonal family
#: fuses them into ``evaluate_tile``, tested below for every evaluator).
PIPELINE = sorted(name for name, evaluator in PAIR_EVALUATORS.items()
                  if hasattr(evaluator, "log_joints"))


@pytest.mark.parametrize("name", PIPELINE)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pair_log_joints_equal_the_dense_log_prob(name, dtype):
    rng = np.random.default_rng(3)
    covariance = _covariance(name)
    params = _random_params(covariance, rng)
    X = (rng.normal(0, 3, size=(N_ROWS, N_FEATURES)) + 20.0).astype(dtype)
    kp = estep_params(covariance, params, dtype)
    evaluator = get_pair_evaluator(name)
    _, _, _, space, counts, _ = _space(rng)
    out = np.empty(space.shape)
    evaluator.log_joints(evaluator.design(covariance, X, kp.shift),
                         evaluator.tables(covariance, kp), space, counts, out)
    # the dense reference: log N(x | mu_c, Sigma_c) + log pi_c from float64 parameters
    kp64 = estep_params(covariance, params, np.float64)
    dense = estimate_weighted_log_prob(X.astype(np.float64) - kp64.shift, kp64)
    rows = np.repeat(np.arange(N_ROWS), counts)
    got = np.concatenate([out[i, : counts[i]] for i in range(N_ROWS)])
    want = dense[rows, np.concatenate([space[i, : counts[i]] for i in range(N_ROWS)])]
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def _brute_force_select(space, counts, log_joints, weights, n_components, n_active,
                        members=None):
    """The selection and pair records of ``select``, row by row.

    ``members``: per row, the components of ``S(n)`` from the neighbourhoods
    (None: all of them); the pair of any other (random) member is recorded
    only if its log-joint is at least the lowest of those members'.
    """
    active, resp, energy, pairs = [], [], 0.0, {}
    for i in range(len(counts)):
        ids = space[i, : counts[i]]
        values = log_joints[i, : counts[i]]
        order = np.argsort(-values, kind="stable")[:n_active]
        active.append(ids[order])
        lse = logsumexp(values[order])
        resp.append(weights[i] * np.exp(values[order] - lse))
        energy += weights[i] * lse
        best = order[0]
        neighbourhood = (np.ones(counts[i], dtype=bool) if members is None
                         else np.isin(ids, list(members[i])))
        floor = values[neighbourhood].min()
        for s in range(counts[i]):
            recorded = neighbourhood[s] or values[s] >= floor
            if s != best and weights[i] > 0 and recorded:
                key = int(ids[best]) * n_components + int(ids[s])
                total, count = pairs.get(key, (0.0, 0.0))
                pairs[key] = (total + weights[i] * (values[best] - values[s]),
                              count + weights[i])
    return np.array(active), np.array(resp), energy, pairs


def _run_select(space, counts, log_joints, weights, previous, table, structured=None):
    n_active = previous.shape[1]
    active = np.empty((len(counts), n_active), dtype=np.int32)
    resp = np.empty((len(counts), n_active))
    table.reserve(space.size)
    energy, evaluations = kernels.select(space, counts, log_joints, weights, previous, active,
                                         resp, table.arrays, structured=structured)
    return active, resp, energy, evaluations


def _previous(grouping, ref_active, rng):
    """A previous ``K(n)`` whose first column (the staging group) is the new best of
    most rows, rows grouped by it ("grouped", as the passes order them), or random
    ("random": nearly every row's pairs are extras, summed by key at the end)."""
    previous = ref_active.astype(np.int32).copy()
    if grouping == "random":
        previous[:, 0] = rng.integers(0, N_COMPONENTS, size=len(previous))
    else:  # a fifth of the rows changed their best since the previous pass
        changed = rng.random(len(previous)) < 0.2
        previous[changed, 0] = rng.integers(0, N_COMPONENTS, size=changed.sum())
    return previous


@pytest.mark.parametrize("grouping", ["grouped", "random"])
@pytest.mark.parametrize("with_random", [False, True])
def test_select_matches_brute_force(grouping, with_random):
    """``with_random``: ``select`` is told which members are random candidates
    (their pairs are then filtered), else every member is a neighbourhood's."""
    rng = np.random.default_rng(4)
    space_active, neighbours, _, space, counts, structured = _space(rng)
    members = _neighbourhood_members(space_active, neighbours) if with_random else None
    log_joints = rng.normal(size=space.shape) * 5
    weights = rng.uniform(0, 2, size=N_ROWS)
    weights[::7] = 0.0
    ref_active, ref_resp, ref_energy, ref_pairs = _brute_force_select(
        space, counts, log_joints, weights, N_COMPONENTS, 3, members)
    if with_random:  # the filter drops some random pairs here
        _, _, _, all_pairs = _brute_force_select(space, counts, log_joints, weights,
                                                 N_COMPONENTS, 3)
        assert sum(v[1] for v in ref_pairs.values()) < sum(v[1] for v in all_pairs.values())
    previous = _previous(grouping, ref_active, rng)
    if grouping == "grouped":
        order = kernels.order_by_component(previous[:, 0], N_COMPONENTS)
        np.testing.assert_array_equal(order, np.argsort(previous[:, 0], kind="stable"))
        space, counts, log_joints, weights, previous, structured = (
            space[order], counts[order], log_joints[order], weights[order], previous[order],
            structured[order])
        ref_active, ref_resp = ref_active[order], ref_resp[order]
    table = kernels.PairTable(N_COMPONENTS)
    active, resp, energy, evaluations = _run_select(
        space, counts, log_joints, weights, previous, table,
        structured if with_random else None)
    assert evaluations == counts.sum()
    np.testing.assert_array_equal(np.sort(active, axis=1), np.sort(ref_active, axis=1))
    np.testing.assert_array_equal(active[:, 0], ref_active[:, 0])
    np.testing.assert_allclose(np.sort(resp, axis=1), np.sort(ref_resp, axis=1), rtol=1e-12)
    np.testing.assert_allclose(energy, ref_energy, rtol=1e-12)
    keys, sums, pair_counts = table.records()
    assert np.all(np.diff(keys) > 0)
    assert keys.tolist() == sorted(ref_pairs)
    # records leave a block in float32 (RECORD_DTYPE): one rounding
    assert sums.dtype == pair_counts.dtype == kernels.RECORD_DTYPE
    np.testing.assert_allclose(sums, [ref_pairs[k][0] for k in keys.tolist()], rtol=2e-7)
    np.testing.assert_allclose(pair_counts, [ref_pairs[k][1] for k in keys.tolist()],
                               rtol=2e-7)


def test_pair_table_grows_without_losing_pairs():
    # many distinct pairs for one component, in two calls: the record lists grow
    n_components = 400
    rng = np.random.default_rng(5)
    n_rows = 200
    space = np.array([np.r_[0, rng.permutation(np.arange(1, n_components))[:30]]
                      for _ in range(n_rows)], dtype=np.int32)
    counts = np.full(n_rows, 31, dtype=np.int64)
    log_joints = np.where(np.arange(31) == 0, 0.0, -1.0)[None, :] - rng.random((n_rows, 31))
    table = kernels.PairTable(n_components)
    # every row's best is component 0: in the first call 0 is also the rows'
    # group (their pairs are staged, then flushed), in the second it is not
    # (their pairs are extras); the records of both add up
    previous = np.zeros((n_rows, 2), dtype=np.int32)
    previous[n_rows // 2:, 0] = 1
    for part in (slice(0, n_rows // 2), slice(n_rows // 2, n_rows)):
        _run_select(space[part], counts[part], log_joints[part], np.ones(n_rows)[part],
                    previous[part], table)
    _, _, _, ref_pairs = _brute_force_select(space, counts, log_joints, np.ones(n_rows),
                                             n_components, 2)
    keys, sums, pair_counts = table.records()
    assert keys.tolist() == sorted(ref_pairs)
    np.testing.assert_allclose(sums, [ref_pairs[k][0] for k in keys.tolist()])
    np.testing.assert_allclose(pair_counts, [ref_pairs[k][1] for k in keys.tolist()])


@pytest.mark.parametrize("name", PIPELINE)
def test_sparse_moments_equal_the_dense_moments(name):
    rng = np.random.default_rng(6)
    covariance, _, X, kp, evaluator = _setting(name, rng)
    active, *_ = _space(rng)
    resp = rng.random(active.shape)
    dense = np.zeros((N_COMPONENTS, N_ROWS))
    np.add.at(dense, (active, np.repeat(np.arange(N_ROWS)[:, None], 3, axis=1)), resp)
    reference = covariance.prepare(X, kp.shift)
    # the E-step first: factor moments take the posterior factor means it leaves
    covariance.log_prob_t(reference, kp.centres, kp.prec_chol)
    want = covariance.moments(reference, dense, kp.centres)
    acc = evaluator.new_moments(covariance, N_COMPONENTS, N_FEATURES)
    tables = evaluator.tables(covariance, kp)
    design = evaluator.design(covariance, X, kp.shift)
    evaluator.add_moments(design, tables, active, resp, acc)
    got = evaluator.finish_moments(covariance, acc, N_FEATURES)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PAIR_EVALUATORS))
@pytest.mark.parametrize("with_moments", [True, False])
def test_tile_equals_the_dense_reference(name, with_moments):
    """A tile's K(n), responsibilities, free energy, pair statistics and moments
    against dense log-probabilities (every component of every row) restricted to
    S(n), a brute-force selection and the dense moments of its responsibilities."""
    rng = np.random.default_rng(8)
    covariance, _, X, kp, evaluator = _setting(name, rng)
    previous, neighbours, randoms, space, counts, _ = _space(rng)
    weights = rng.uniform(0, 2, size=N_ROWS)
    weights[::11] = 0.0
    dense = estimate_weighted_log_prob(X - kp.shift, kp)
    filled = np.arange(space.shape[1]) < counts[:, None]
    values = np.where(filled, np.take_along_axis(dense, np.where(filled, space, 0), axis=1),
                      0.0)
    ref_active, ref_resp, ref_energy, ref_pairs = _brute_force_select(
        space, counts, values, weights, N_COMPONENTS, 3,
        _neighbourhood_members(previous, neighbours))

    layout = StatsLayout(N_COMPONENTS, N_FEATURES,
                         covariance.second_moment_shape(N_COMPONENTS, N_FEATURES))
    inputs = PassInputs(covariance, evaluator, evaluator.tables(covariance, kp), kp.shift,
                        neighbours, 0, 1, layout, with_moments, False)
    acc = evaluator.new_moments(covariance, N_COMPONENTS, N_FEATURES) if with_moments else None
    active = np.empty_like(previous)
    resp = np.empty(previous.shape)
    table = kernels.PairTable(N_COMPONENTS)
    energy, evaluations = evaluator.evaluate_tile(covariance, inputs, X, previous, randoms,
                                                  weights, active, resp, table, acc)

    assert evaluations == counts.sum()
    np.testing.assert_array_equal(active, ref_active)
    np.testing.assert_allclose(resp, ref_resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(energy, ref_energy, rtol=1e-10)
    keys, sums, pair_counts = table.records()
    assert keys.tolist() == sorted(ref_pairs)
    np.testing.assert_allclose(sums, [ref_pairs[k][0] for k in keys.tolist()], rtol=2e-7)
    np.testing.assert_allclose(pair_counts, [ref_pairs[k][1] for k in keys.tolist()],
                               rtol=2e-7)
    if with_moments:
        resp_t = np.zeros((N_COMPONENTS, N_ROWS))
        np.add.at(resp_t, (ref_active.T, np.arange(N_ROWS)), ref_resp.T)
        design = covariance.prepare(X, kp.shift)
        covariance.log_prob_t(design, kp.centres, kp.prec_chol)  # factor: posterior means
        want = covariance.moments(design, resp_t, kp.centres)
        got = evaluator.finish_moments(covariance, acc, N_FEATURES)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(PAIR_EVALUATORS))
def test_float32_tile_matches_the_float64_dense_reference(name):
    """float32 rows and parameters (the kernels' float32 path, e.g. the
    diagonal family's float32 design) against float64 dense log-probabilities."""
    rng = np.random.default_rng(10)
    covariance, params, X, kp, evaluator = _setting(name, rng)
    previous, neighbours, randoms, space, counts, _ = _space(rng)
    weights = np.ones(N_ROWS)
    dense = estimate_weighted_log_prob(X - kp.shift, kp)
    filled = np.arange(space.shape[1]) < counts[:, None]
    values = np.where(filled, np.take_along_axis(dense, np.where(filled, space, 0), axis=1),
                      0.0)
    ref_active, ref_resp, ref_energy, _ = _brute_force_select(space, counts, values, weights,
                                                              N_COMPONENTS, 3)
    kp32 = estep_params(covariance, params, np.float32)
    layout = StatsLayout(N_COMPONENTS, N_FEATURES,
                         covariance.second_moment_shape(N_COMPONENTS, N_FEATURES))
    inputs = PassInputs(covariance, evaluator, evaluator.tables(covariance, kp32), kp32.shift,
                        neighbours, 0, 1, layout, False, False)
    active = np.empty_like(previous)
    resp = np.empty(previous.shape)
    energy, _ = evaluator.evaluate_tile(covariance, inputs, X.astype(np.float32), previous,
                                        randoms, weights, active, resp,
                                        kernels.PairTable(N_COMPONENTS), None)
    np.testing.assert_array_equal(active, ref_active)
    np.testing.assert_allclose(energy, ref_energy, rtol=1e-4)
    np.testing.assert_allclose(resp, ref_resp, rtol=1e-3, atol=1e-4)


def test_random_candidates_depend_on_the_global_row_only():
    whole = random_candidates(123, 0, 1000, 2, 17)
    parts = np.vstack([random_candidates(123, a, b - a, 2, 17)
                       for a, b in [(0, 3), (3, 700), (700, 1000)]])
    np.testing.assert_array_equal(whole, parts)
    assert whole.min() >= 0 and whole.max() < 17
    assert not np.array_equal(whole, random_candidates(124, 0, 1000, 2, 17))


def test_block_split_gives_the_same_result_as_the_whole():
    rng = np.random.default_rng(7)
    covariance = get_covariance_type("diag")
    params = _random_params(covariance, rng)
    X = rng.normal(0, 3, size=(N_ROWS, N_FEATURES)) + 20.0
    kp = estep_params(covariance, params, np.float64)
    layout = StatsLayout(N_COMPONENTS, N_FEATURES, (N_COMPONENTS, N_FEATURES))
    evaluator = get_pair_evaluator("diag")
    inputs = PassInputs(covariance, evaluator, evaluator.tables(covariance, kp), kp.shift,
                        initial_neighbours(params.means, 4), 99, 1,
                        layout, True, False)
    active, *_ = _space(rng)
    whole_active, whole = truncated_block(X, None, active, 0, inputs)
    pieces = [truncated_block(X[a:b], None, active[a:b], a, inputs)
              for a, b in [(0, 10), (10, 10), (10, 200), (200, N_ROWS)]]
    np.testing.assert_array_equal(np.vstack([p[0] for p in pieces]), whole_active)
    merged = merge_block_stats([p[1] for p in pieces])
    np.testing.assert_allclose(merged.vector, whole.vector, rtol=1e-10)
    assert merged.evaluations == whole.evaluations
    np.testing.assert_array_equal(merged.keys, whole.keys)
    np.testing.assert_allclose(merged.sums, whole.sums, rtol=1e-6)  # float32 records
    np.testing.assert_allclose(merged.counts, whole.counts)


def test_merge_sums_records_by_key():
    a = BlockStats(np.array([1.0, 2.0]), 3, np.array([1, 5]), np.array([1.0, 2.0]),
                   np.array([1.0, 1.0]))
    b = BlockStats(np.array([0.5, 0.5]), 4, np.array([5, 7]), np.array([3.0, 4.0]),
                   np.array([2.0, 1.0]))
    merged = merge_block_stats([a, b])
    np.testing.assert_array_equal(merged.vector, [1.5, 2.5])
    assert merged.evaluations == 7
    assert merged.keys.tolist() == [1, 5, 7]
    assert merged.sums.tolist() == [1.0, 5.0, 4.0]
    assert merged.counts.tolist() == [1.0, 3.0, 1.0]


def test_update_neighbours_keeps_the_smallest_kl_estimates():
    n_components = 5
    neighbours = initial_neighbours(np.arange(5.0)[:, None] ** 2, 3)
    log_weights = np.log(np.array([0.1, 0.2, 0.3, 0.2, 0.2]))
    # records for component 0 (k = 1..4) and component 2 (k = 4); none for the others
    keys = np.array([1, 2, 3, 4, 2 * n_components + 4])
    sums = np.array([4.0, 1.0, 9.0, 2.0, 1.0])
    counts = np.array([2.0, 1.0, 3.0, 1.0, 1.0])
    new = update_neighbours(neighbours, keys, sums, counts, log_weights)
    score = {k: sums[i] / counts[i] + log_weights[k] - log_weights[0]
             for i, k in enumerate([1, 2, 3, 4])}
    best = sorted(score, key=score.get)[:2]
    assert new[0].tolist() == [0] + best
    assert new[2].tolist() == [2, 4, -1]
    for c in (1, 3, 4):
        assert new[c].tolist() == neighbours[c].tolist()


@pytest.mark.parametrize("seed", range(3))
def test_update_neighbours_equals_a_brute_force_sort_with_ties(seed):
    rng = np.random.default_rng(seed)
    n_components, width = 12, 4
    neighbours = initial_neighbours(rng.normal(size=(n_components, 2)), width)
    pairs = sorted({(int(c), int(k)) for c, k in rng.integers(0, n_components, (60, 2))
                    if c != k})
    keys = np.array([c * n_components + k for c, k in pairs], dtype=np.int64)
    # scores on a coarse grid, so that many of them tie
    sums = rng.integers(0, 4, size=len(keys)).astype(float)
    counts = np.ones(len(keys))
    log_weights = np.zeros(n_components)
    new = update_neighbours(neighbours, keys, sums, counts, log_weights)
    for c in range(n_components):
        mine = [(sums[i], k) for i, (cc, k) in enumerate(pairs) if cc == c]
        if not mine:
            assert new[c].tolist() == neighbours[c].tolist()
            continue
        kept = [k for _, k in sorted(mine)[: width - 1]]
        assert new[c].tolist() == [c] + kept + [-1] * (width - 1 - len(kept))


def test_merge_records_adds_equal_keys():
    rng = np.random.default_rng(9)
    parts = []
    for _ in range(3):
        keys = np.unique(rng.integers(0, 50, size=30)).astype(np.int64)
        parts.append((keys, rng.random(len(keys)), rng.random(len(keys))))
    reference = {}
    for keys, sums, counts in parts:
        for k, a, b in zip(keys.tolist(), sums, counts):
            total, count = reference.get(k, (0.0, 0.0))
            reference[k] = (total + a, count + b)
    merged = kernels.merge_records(*parts[0], *parts[1])
    merged = kernels.merge_records(*merged, *parts[2])
    assert merged[0].tolist() == sorted(reference)
    np.testing.assert_allclose(merged[1], [reference[k][0] for k in sorted(reference)])
    np.testing.assert_allclose(merged[2], [reference[k][1] for k in sorted(reference)])


def test_initial_neighbours_are_the_nearest_means():
    means = np.random.default_rng(0).normal(size=(10, 3))
    g = initial_neighbours(means, 4)
    distances = ((means[:, None] - means[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    np.testing.assert_array_equal(g[:, 0], np.arange(10))
    np.testing.assert_array_equal(g[:, 1:], np.argsort(distances, axis=1, kind="stable")[:, :3])
    assert initial_neighbours(means[:3], 15).shape == (3, 3)


def test_link_reseeded_makes_split_halves_neighbours():
    g = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1], [3, 0, 1]], dtype=np.int32)
    means = np.array([[0.0], [10.0], [20.0], [0.5]])
    linked = link_reseeded(g, means, np.array([0, 3]))
    assert linked[0, 0] == 0 and 3 in linked[0]
    assert linked[3, 0] == 3 and 0 in linked[3]
    assert all(len(set(row)) == len(row) for row in linked.tolist())
