"""Every Dask and ``distributed`` call of daskmix: graphs, futures, input and output adapters."""
