"""Write a lazy row-wise result to OUTPUT: ``.npy``, zarr, parquet or CSV.

The result is computed chunk by chunk straight into the output (one
``dask.compute`` through ``daskmix._dask.graph.compute``, of a lazy write
from ``daskmix._dask.outputs``), never gathered in the client. The output is
written under a temporary name next to OUTPUT and renamed over it at the
end, so an interrupted command leaves no half-written OUTPUT.
"""

from __future__ import annotations

import os

from daskmix._atomic import replacing
from daskmix._dask import graph as _graph
from daskmix._dask import outputs as _outputs
from daskmix.cli._errors import EXIT_DATA, EXIT_USAGE, CLIError
from daskmix.cli._npy import NpyRowsWriter

__all__ = ["OUTPUT_FORMATS", "output_format", "write_output"]

#: Output formats ``--output-format`` accepts.
OUTPUT_FORMATS = ("npy", "zarr", "parquet", "csv")

_SUFFIXES = {".npy": "npy", ".zarr": "zarr", ".parquet": "parquet", ".pq": "parquet",
             ".csv": "csv"}


def output_format(path, fmt):
    """The output format: ``fmt`` if given, else from the suffix of ``path``.

    Parameters
    ----------
    path : str
    fmt : str or None

    Returns
    -------
    str

    Raises
    ------
    CLIError
        ``EXIT_USAGE`` when the suffix does not tell.
    """
    if fmt is not None:
        return fmt
    name = path.rstrip("/\\").lower()
    for suffix, guess in _SUFFIXES.items():
        if name.endswith(suffix):
            return guess
    raise CLIError(
        f"cannot tell the format of OUTPUT {path} from its name; end it in .npy, "
        ".zarr, .parquet or .csv, or pass --output-format",
        EXIT_USAGE,
    )


def _writer(result, tmp, fmt, column):
    """The lazy write of ``result`` to ``tmp``.

    Parameters
    ----------
    result : dask.array.Array
    tmp : str
    fmt : str
    column : str

    Returns
    -------
    dask collection
        Computing it writes the output.
    """
    if fmt == "npy":
        return _outputs.store_rows(result, NpyRowsWriter(tmp, result.shape, result.dtype))
    if fmt == "zarr":
        try:
            return _outputs.to_zarr(result, tmp)
        except ImportError:
            raise CLIError("writing zarr needs the zarr package: python -m pip install "
                           "'daskmix[io]'", EXIT_DATA) from None
    return _outputs.to_table(result, tmp, fmt, column)


def _replaceable(path, fmt):
    """Whether an existing ``path`` is an earlier output of format ``fmt``.

    A directory is only replaced when it is a zarr store or holds nothing
    but parquet files, so a mistyped OUTPUT never deletes other data.

    Parameters
    ----------
    path : str
    fmt : str

    Returns
    -------
    bool
    """
    if not os.path.isdir(path):
        return fmt in ("npy", "csv")
    names = os.listdir(path)
    if fmt == "zarr":
        return any(n in names for n in ("zarr.json", ".zarray", ".zgroup"))
    if fmt == "parquet":
        return all(n.endswith(".parquet") or n.startswith("_") for n in names)
    return False


def write_output(result, path, fmt, column):
    """Compute ``result`` into OUTPUT, atomically.

    Parameters
    ----------
    result : dask.array.Array of shape (n_samples,) or (n_samples, n_columns)
    path : str
    fmt : {"npy", "zarr", "parquet", "csv"}
    column : str
        Column name (or prefix, for 2-D results) in parquet and CSV output.

    Raises
    ------
    CLIError
        ``EXIT_DATA`` if OUTPUT cannot be written.
    """
    directory = fmt in ("zarr", "parquet")
    if os.path.exists(path) and not _replaceable(path, fmt):
        raise CLIError(f"OUTPUT {path} exists and is not a {fmt} output daskmix would "
                       "replace; remove it or choose another path.", EXIT_DATA)
    try:
        with replacing(path, directory=directory) as tmp:
            _graph.compute(_writer(result, tmp, fmt, column))
    except FileNotFoundError as exc:
        raise CLIError(str(exc), EXIT_DATA) from None
    except PermissionError as exc:
        raise CLIError(f"cannot write OUTPUT {path} ({exc})", EXIT_DATA) from None
