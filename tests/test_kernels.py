"""The shared kernel toolkit: packed layouts, tiles, non-finite counts, row weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from daskmix._kernels import (
    TILE_ROWS,
    PackedLayout,
    count_nonfinite,
    row_tiles,
    row_weights,
    total_weight,
)
from daskmix.cluster._kmeans_kernels import LloydLayout, NearestLayout, TopRowsLayout
from daskmix.decomposition._pca_kernels import MomentsLayout
from daskmix.mixture.kernels.suffstats import StatsLayout


@dataclass(frozen=True)
class ToyLayout(PackedLayout):
    """A scalar, a vector and a matrix."""

    n: int

    @property
    def fields(self):
        return (("total", ()), ("vector", (self.n,)), ("matrix", (self.n, 2)))


def test_pack_and_unpack_round_trip():
    layout = ToyLayout(3)
    assert layout.size == 1 + 3 + 6
    matrix = np.arange(6.0).reshape(3, 2)
    vector = layout.pack(total=7, vector=[1, 2, 3], matrix=matrix)
    assert vector.dtype == np.float64
    assert_array_equal(vector, [7, 1, 2, 3, 0, 1, 2, 3, 4, 5])
    fields = layout.unpack(vector)
    assert fields["total"].shape == ()
    assert float(fields["total"]) == 7
    assert_array_equal(fields["matrix"], matrix)
    assert layout.offsets() == {
        "total": slice(0, 1), "vector": slice(1, 4), "matrix": slice(4, 10)
    }


def test_pack_broadcasts_scalars_and_rejects_unknown_or_missing_fields():
    layout = ToyLayout(2)
    assert_array_equal(layout.pack(total=1, vector=0, matrix=2), [1, 0, 0, 2, 2, 2, 2])
    with pytest.raises(TypeError, match="no field"):
        layout.pack(total=1, vector=0, matrix=0, extra=1)
    with pytest.raises(KeyError):
        layout.pack(total=1, vector=0)


def test_zeros_sets_only_the_named_fields():
    layout = ToyLayout(2)
    assert_array_equal(layout.zeros(total=3), [3, 0, 0, 0, 0, 0, 0])
    assert_array_equal(layout.zeros(vector=-1), [0, -1, -1, 0, 0, 0, 0])


def test_views_read_a_stack_and_write_through():
    layout = ToyLayout(2)
    stacked = np.stack([layout.pack(total=i, vector=i, matrix=i) for i in range(4)])
    fields = layout.views(stacked)
    assert fields["matrix"].shape == (4, 2, 2)
    assert_array_equal(fields["total"], [0, 1, 2, 3])
    fields["vector"][1] = 9
    assert_array_equal(stacked[1, 1:3], [9, 9])


@pytest.mark.parametrize(
    "layout, size",
    [
        (StatsLayout(3, 4, (3, 4)), 3 + 12 + 12 + 3),
        (LloydLayout(3, 4), 3 + 12 + 2),
        (NearestLayout(5), 5 + 2),
        (TopRowsLayout(2, 4), 3 + 2 * (2 + 4)),
        (MomentsLayout(4), 2 + 4 + 16),
    ],
)
def test_every_statistics_vector_is_a_packed_layout(layout, size):
    assert isinstance(layout, PackedLayout)
    assert layout.size == size
    assert "nonfinite" in dict(layout.fields)


@pytest.mark.parametrize(
    "n_rows, tile_rows", [(0, 4), (1, 4), (8, 4), (9, 4), (TILE_ROWS + 1, TILE_ROWS)]
)
def test_row_tiles_cover_the_rows_once(n_rows, tile_rows):
    tiles = list(row_tiles(n_rows, tile_rows))
    covered = np.concatenate([np.arange(n_rows)[tile] for tile in tiles] or [np.empty(0, int)])
    assert_array_equal(covered, np.arange(n_rows))
    assert all(tile.stop - tile.start <= tile_rows for tile in tiles)


def test_count_nonfinite():
    X = np.ones((5, 3), dtype=np.float32)
    assert count_nonfinite(X) == 0
    X[1, 2], X[3, 0], X[4, 1] = np.nan, np.inf, -np.inf
    assert count_nonfinite(X) == 3


def test_row_weights_and_total_weight():
    assert row_weights(None, slice(0, 2)) is None
    weights = np.array([[1.0], [2.0], [4.0]])
    got = row_weights(weights, slice(1, 3), np.float32)
    assert got.dtype == np.float32
    assert_array_equal(got, [2.0, 4.0])
    assert total_weight(None, 3) == 3.0
    assert total_weight(weights, 3) == 7.0
