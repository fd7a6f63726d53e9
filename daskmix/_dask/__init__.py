"""Every Dask and ``distributed`` call of daskmix.

- ``graph``: the task graphs of every pass, and ``compute``.
- ``futures``: futures on a ``distributed`` cluster (asynchronous EM).
- ``inputs``: NumPy, dask DataFrames, ``.npy``, zarr, parquet and CSV as dask collections.
- ``outputs``: lazy writes of row-wise results (``.npy``, zarr, parquet, CSV).
- ``images``: per-chunk image kernels with the overlap they need (``map_overlap``).
- ``scheduler``: connecting to a cluster, starting a local one, the progress bar.
- ``testing``: a straggling worker, for tests and benchmarks.

Outside this package, daskmix imports neither ``dask`` nor ``distributed``;
modules here import them when first used, so ``import daskmix`` loads neither.
"""
