"""Images as dask arrays: per-chunk kernels with the overlap they need, and tiles."""

from __future__ import annotations

from daskmix._dask.graph import PREFIX

__all__ = ["map_overlap_2d", "stack_channels"]


def map_overlap_2d(image, func, depth, *, name, dtype, **kwargs):
    """Apply ``func`` to each chunk of a 2-D dask array extended by ``depth`` pixels.

    Parameters
    ----------
    image : dask.array.Array of shape (H, W)
        Chunks smaller than ``depth`` are merged by dask first (the result
        then has the merged chunks).
    func : callable
        ``func(block, **kwargs) -> ndarray`` of the block's shape; the block
        holds the chunk and up to ``depth`` neighbouring pixels on every side
        (fewer at the image's borders: there is no padding).
    depth : int
    name : str
        The graph layer is ``daskmix-<name>``.
    dtype : numpy dtype
    **kwargs
        Passed to ``func``; arrays among them are embedded in the graph once.

    Returns
    -------
    dask.array.Array
        Lazy, with ``image``'s chunks.
    """
    import dask.array as da

    return da.map_overlap(
        func,
        image,
        depth=depth,
        boundary="none",
        trim=True,
        dtype=dtype,
        token=f"{PREFIX}{name}",
        **kwargs,
    )


def stack_channels(channels, chunks):
    """Stack 2-D dask arrays along a new last axis, with the given chunks.

    Parameters
    ----------
    channels : list of dask.array.Array of shape (H, W)
    chunks : tuple of tuple of int
        Chunks of the (H, W, n_channels) result.

    Returns
    -------
    dask.array.Array of shape (H, W, len(channels))
    """
    import dask.array as da

    return da.stack(channels, axis=-1).rechunk(chunks)
