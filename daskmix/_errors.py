"""Error messages shared by kernels and validation (pure Python, no dask)."""

from __future__ import annotations

__all__ = ["raise_if_nonfinite"]


def raise_if_nonfinite(count, what="X"):
    """Raise the error for non-finite input found during a pass.

    Parameters
    ----------
    count : float
        Number of non-finite values found.
    what : str, default="X"

    Raises
    ------
    ValueError
        When ``count`` is non-zero, naming the remedy.
    """
    if count:
        raise ValueError(
            f"Input {what} contains NaN or infinity ({int(count)} non-finite "
            "values). Remove or impute them first, e.g. with "
            "sklearn.impute.SimpleImputer, or X[da.isfinite(X).all(axis=1)]."
        )
