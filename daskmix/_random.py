"""Counter-based random numbers: the same value for the same (seed, row, column).

Draws keyed by global row index do not depend on how the rows are chunked,
which worker computes them, or in which order, so a fit is reproducible with
``random_state`` whatever the scheduler. The generator is SplitMix64 (Steele,
Lea and Flood, 2014) applied to a counter, a well-studied hash with full
avalanche, vectorised in NumPy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["counter_uniform"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x):
    """SplitMix64 finaliser of a uint64 array (wrapping arithmetic)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def counter_uniform(seed, row_start, n_rows, n_columns):
    """Uniform draws in (0, 1) for rows ``row_start .. row_start + n_rows``.

    Parameters
    ----------
    seed : int
        Non-negative key of the stream.
    row_start, n_rows, n_columns : int

    Returns
    -------
    u : ndarray of shape (n_rows, n_columns), float64
    """
    with np.errstate(over="ignore"):
        key = _splitmix64(np.array([seed], dtype=np.uint64))[0]
        rows = np.arange(row_start, row_start + n_rows, dtype=np.uint64)
        counter = rows[:, None] * np.uint64(n_columns) + np.arange(
            n_columns, dtype=np.uint64
        )
        bits = _splitmix64(counter ^ key) >> np.uint64(11)
    return (bits.astype(np.float64) + 0.5) * 2.0**-53
