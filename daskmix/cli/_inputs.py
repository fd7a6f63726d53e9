"""Open the INPUT of a command lazily: ``.npy``, zarr, parquet or CSV.

Nothing is read here beyond metadata (the ``.npy`` header, zarr's metadata,
parquet's schema, a sample of a CSV to infer its columns): every format
becomes a dask array or a dask DataFrame whose chunks are read when a task
needs them. This module checks paths and formats and explains refusals;
``daskmix._dask.inputs`` makes the dask collections. DataFrames keep their
column names, which become the model's ``feature_names_in_``.

INPUT is a local path, a ``file://`` URL, or the URL of a remote store that
fsspec reads (``s3://``, ``gs://``, ``abfs://``, ``https://``, ...; each
needs its fsspec backend installed: s3fs, gcsfs, adlfs, aiohttp) for zarr,
parquet and CSV. The tasks that read chunks run wherever dask runs them: on
a distributed cluster, a local path must be on a file system every worker
mounts, and a URL must be reachable, with credentials, from every worker.
"""

from __future__ import annotations

import glob
import os

from daskmix._dask import inputs as _inputs
from daskmix._validation import default_chunk_rows
from daskmix.cli._common import INPUT_FORMATS, close_match, is_url, local_path
from daskmix.cli._errors import EXIT_DATA, EXIT_USAGE, CLIError
from daskmix.cli._npy import NpyRows

__all__ = ["describe", "guess_format", "open_input"]

_SUFFIXES = {".npy": "npy", ".zarr": "zarr", ".parquet": "parquet", ".pq": "parquet",
             ".csv": "csv", ".csv.gz": "csv", ".csv.bz2": "csv", ".csv.xz": "csv"}


def guess_format(path):
    """The input format of ``path`` from its name, or from a directory's content.

    Parameters
    ----------
    path : str

    Returns
    -------
    str or None
        One of ``INPUT_FORMATS``; None when the name does not tell.
    """
    name = path.rstrip("/\\").lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    if os.path.isdir(path):
        if any(os.path.exists(os.path.join(path, m)) for m in ("zarr.json", ".zarray", ".zgroup")):
            return "zarr"
        if glob.glob(os.path.join(path, "*.parquet")):
            return "parquet"
    return None


def _check_remote(path):
    """Raise unless the remote INPUT ``path`` (a URL, maybe a glob pattern) exists.

    Parameters
    ----------
    path : str

    Raises
    ------
    CLIError
        ``EXIT_DATA``, naming the missing fsspec backend if that is the problem.
    """
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as exc:  # unknown protocol, or its backend missing
        raise CLIError(f"cannot read {path}: {exc}", EXIT_DATA) from None
    try:
        found = fs.glob(root) if glob.has_magic(root) else fs.exists(root)
    except Exception as exc:
        raise CLIError(f"cannot reach INPUT {path} ({type(exc).__name__}: {exc})",
                       EXIT_DATA) from None
    if not found:
        raise CLIError(f"INPUT not found: {path}", EXIT_DATA)


def _check_exists(path):
    """Raise unless ``path`` (or, for a glob pattern, some file it matches) exists.

    Parameters
    ----------
    path : str

    Raises
    ------
    CLIError
        ``EXIT_DATA``.
    """
    if glob.has_magic(path):
        if not glob.glob(path):
            raise CLIError(f"no file matches the INPUT pattern {path}", EXIT_DATA)
    elif not os.path.exists(path):
        raise CLIError(f"INPUT not found: {path}", EXIT_DATA)


def _open_npy(path, chunk_rows):
    """A ``.npy`` file as a dask array, memory-mapped a chunk at a time.

    Parameters
    ----------
    path : str
    chunk_rows : int or None

    Returns
    -------
    dask.array.Array
    """
    try:
        rows = NpyRows(path)
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read {path} as a .npy array ({exc})", EXIT_DATA) from None
    if rows.ndim != 2:
        raise CLIError(
            f"{path} holds an array of shape {rows.shape}; daskmix needs 2 dimensions "
            "(rows, features). Save it as X.reshape(len(X), -1).",
            EXIT_DATA,
        )
    chunk_rows = chunk_rows or default_chunk_rows(*rows.shape)
    stat = os.stat(rows.path)
    return _inputs.from_npy(rows, chunk_rows, (rows.path, stat.st_mtime_ns, stat.st_size))


def _open_zarr(path, array, chunk_rows):
    """A zarr array (or the array ``array`` of a group) as a dask array.

    Parameters
    ----------
    path : str
    array : str or None
    chunk_rows : int or None
        None keeps the store's row chunks.

    Returns
    -------
    dask.array.Array
        One chunk along the features.
    """
    try:
        import zarr
    except ImportError:
        raise CLIError(
            "reading zarr needs the zarr package: python -m pip install 'daskmix[io]'",
            EXIT_DATA,
        ) from None
    try:
        node = zarr.open(path, mode="r")
    except Exception as exc:  # zarr raises several types for a path that is not a store
        raise CLIError(f"cannot open {path} as a zarr store ({exc})", EXIT_DATA) from None
    if array is None and isinstance(node, zarr.Group):
        names = sorted(name for name, _ in node.arrays())
        raise CLIError(
            f"{path} is a zarr group; choose the array with --array (it holds: "
            f"{', '.join(names) or 'no arrays'})",
            EXIT_USAGE,
        )
    try:
        X = _inputs.from_zarr(path, component=array)
    except Exception as exc:
        raise CLIError(f"cannot read the array {array!r} of {path} ({exc})", EXIT_DATA) from None
    if X.ndim != 2:
        raise CLIError(f"{path} holds an array of shape {X.shape}; daskmix needs 2 "
                       "dimensions (rows, features)", EXIT_DATA)
    return X.rechunk({0: chunk_rows, 1: -1} if chunk_rows else {1: -1})


def _check_columns(path, columns, names):
    """Raise unless every ``--columns`` name is among ``names``.

    Parameters
    ----------
    path : str
    columns : list of str
        The names given with ``--columns``.
    names : list of str
        The columns of INPUT.

    Raises
    ------
    CLIError
        ``EXIT_USAGE``, naming the missing column, the closest real one and
        every real one.
    """
    for column in columns:
        if column not in names:
            guess = close_match(column, names)
            hint = f" (did you mean {guess!r}?)" if guess else ""
            raise CLIError(f"--columns: {path} has no column {column!r}{hint}; its columns "
                           f"are {', '.join(names)}", EXIT_USAGE)


def _open_frame(path, fmt, columns):
    """Parquet or CSV files as a dask DataFrame of numeric columns.

    Parameters
    ----------
    path : str
        A file, a directory (parquet) or a glob pattern.
    fmt : {"parquet", "csv"}
    columns : list of str or None

    Returns
    -------
    dask.dataframe.DataFrame
    """
    try:
        # all columns (their names and types are read, not their data), so that a
        # --columns name INPUT lacks is reported with the names it has
        frame = _inputs.read_table(path, fmt)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CLIError(f"cannot read {path} as {fmt} ({type(exc).__name__}: {exc})",
                       EXIT_DATA) from None
    if columns is not None:
        _check_columns(path, columns, [str(c) for c in frame.columns])
        frame = frame[columns]  # dask reads only these columns
    numeric = frame.select_dtypes(include="number").columns
    other = [c for c in frame.columns if c not in set(numeric)]
    if other:
        raise CLIError(
            f"{path} has non-numeric columns {other}; choose the feature columns with "
            f"--columns {','.join(map(str, numeric))}",
            EXIT_DATA,
        )
    return frame


def open_input(args):
    """INPUT as a lazy dask array or dask DataFrame.

    Parameters
    ----------
    args : argparse.Namespace
        With ``input``, ``format``, ``columns``, ``array`` and ``chunk_rows``.

    Returns
    -------
    dask.array.Array or dask.dataframe.DataFrame

    Raises
    ------
    CLIError
        ``EXIT_DATA`` for a missing or unreadable input, ``EXIT_USAGE`` when
        the format cannot be told or an option does not fit it.
    """
    path = local_path(args.input)
    fmt = args.format or guess_format(path)
    if fmt is None:
        raise CLIError(
            f"cannot tell the format of {path} from its name; pass --format "
            f"{{{','.join(INPUT_FORMATS)}}}",
            EXIT_USAGE,
        )
    if is_url(path):
        if fmt == "npy":
            raise CLIError(
                f"a .npy INPUT is memory-mapped and must be a local path (on a cluster: "
                f"a file system every worker mounts), not {path}; store the data as "
                "zarr or parquet to read it from object storage",
                EXIT_USAGE,
            )
        _check_remote(path)
    else:
        _check_exists(path)
    if fmt in ("npy", "zarr") and args.columns is not None:
        raise CLIError(f"--columns applies to parquet and csv input, not {fmt}", EXIT_USAGE)
    if fmt == "npy":
        return _open_npy(path, args.chunk_rows)
    if fmt == "zarr":
        return _open_zarr(path, args.array, args.chunk_rows)
    return _open_frame(path, fmt, args.columns)


def describe(X):
    """One line on what was opened.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame

    Returns
    -------
    str
    """
    if hasattr(X, "columns"):
        names = ", ".join(map(str, X.columns))
        return f"{len(X.columns)} columns ({names}) in {_count(X.npartitions, 'partition')}"
    return (f"{X.shape[0]:,} rows x {X.shape[1]} features, {X.dtype}, "
            f"{_count(X.numblocks[0], 'chunk')} of up to {max(X.chunks[0]):,} rows")


def _count(n, noun):
    """``"1 chunk"``, ``"3 chunks"``.

    Parameters
    ----------
    n : int
    noun : str

    Returns
    -------
    str
    """
    return f"{n} {noun}{'' if n == 1 else 's'}"
