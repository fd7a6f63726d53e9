"""Shared helpers of the model-file tests: fitted models and exact comparison."""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_array_equal


def assert_same_state(original, loaded):
    """Every attribute of ``loaded`` equals ``original``'s, bit for bit and type for type."""
    assert type(loaded) is type(original)
    assert sorted(vars(loaded)) == sorted(vars(original))
    for name, value in vars(original).items():
        other = getattr(loaded, name)
        _assert_same_value(name, value, other)


def _assert_same_value(name, value, other):
    if isinstance(value, np.random.RandomState):
        a, b = value.get_state(), other.get_state()
        assert a[0] == b[0] and a[2:] == b[2:], name
        assert_array_equal(a[1], b[1], err_msg=name)
    elif isinstance(value, np.ndarray):
        assert isinstance(other, np.ndarray), name
        assert other.dtype == value.dtype or value.dtype.kind in "OU", (name, other.dtype)
        assert other.shape == value.shape, name
        # the memory order changes the rounding of matrix products
        assert other.flags.c_contiguous == value.flags.c_contiguous, name
        assert other.flags.f_contiguous == value.flags.f_contiguous, name
        assert_array_equal(other, value, err_msg=name, strict=value.dtype.kind not in "OU")
    elif hasattr(value, "__dataclass_fields__"):
        for field in value.__dataclass_fields__:
            _assert_same_value(f"{name}.{field}", getattr(value, field), getattr(other, field))
    elif isinstance(value, dict):
        assert sorted(value) == sorted(other), name
        for key in value:
            _assert_same_value(f"{name}[{key}]", value[key], other[key])
    elif isinstance(value, tuple):
        assert len(value) == len(other), name
        for i, (a, b) in enumerate(zip(value, other, strict=True)):
            _assert_same_value(f"{name}[{i}]", a, b)
    elif isinstance(value, float) and np.isnan(value):
        assert np.isnan(other), name
    else:
        assert other == value, (name, value, other)
        assert type(other) is type(value) or isinstance(value, (np.floating, np.integer)), (
            name, type(value), type(other)
        )
