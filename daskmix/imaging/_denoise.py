"""``denoise``: zero-shot patch denoising with a Gaussian mixture fitted to the noisy image.

The pipeline (each step in its own module):

1. the noise level, if not given (:mod:`._sigma`);
2. a bounded random sample of patches, from the whole image or from random
   tiles of a large one (:func:`_fit_tiles`);
3. a :class:`daskmix.GaussianMixture` fitted to their AC coefficients and
   turned into per-component Wiener filters (:mod:`._prior`);
4. every overlapping patch replaced by its posterior mean under its most
   probable component, and the overlapping estimates averaged
   (:mod:`._posterior`), chunk by chunk for a dask image.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
from numbers import Integral, Real

import numpy as np

from daskmix._blas import single_blas_thread
from daskmix._dask import graph as _graph
from daskmix._dask.images import map_overlap_2d, stack_channels
from daskmix.imaging._patches import sample_patches
from daskmix.imaging._posterior import denoise_image
from daskmix.imaging._prior import fit_patch_prior, prior_from_mixture
from daskmix.imaging._sigma import estimate_sigma

__all__ = ["denoise"]

#: side of the random tiles a large image's fitting sample is drawn from
_TILE = 128

#: candidate patches per fitting patch: the sample is drawn from the whole
#: image when its grid holds at most this many times ``max_fit_patches``,
#: else from random tiles holding about that many
_CANDIDATES_PER_PATCH = 8

#: an orthonormal opponent colour transform (rows: luminance, red-blue,
#: green-magenta): white noise of standard deviation sigma in RGB stays white
#: with the same sigma in every output channel
_OPPONENT = np.array(
    [
        [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)],
        [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
        [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)],
    ]
)


def denoise(
    image,
    sigma=None,
    *,
    patch_size=8,
    n_components=12,
    covariance_type="full",
    n_factors=None,
    algorithm="em",
    n_active=3,
    max_iter=20,
    tol=1e-3,
    reg_covar=1e-3,
    fit_stride=1,
    max_fit_patches=60_000,
    random_state=0,
):
    """Denoise an image with a Gaussian mixture prior learnt from its own noisy patches.

    A Gaussian mixture is fitted to a sample of the noisy image's
    ``patch_size x patch_size`` patches (their mean removed). Subtracting the
    known noise covariance ``sigma**2 I`` from each component's covariance
    (and projecting it back onto the positive semi-definite matrices) gives a
    prior for clean patches. Every overlapping patch of the image is then
    replaced by its exact posterior mean under its most probable component
    (a Wiener filter per component; the patch mean is kept), and each pixel
    becomes the average of the estimates of the ``patch_size**2`` patches
    that cover it. Nothing is learnt from other images ("zero-shot").

    .. versionadded:: 0.2

    Parameters
    ----------
    image : {ndarray, dask.array.Array} of shape (H, W) or (H, W, 3)
        Greyscale, or RGB colour (last axis). Any real dtype, any intensity
        range; ``H`` and ``W`` at least ``patch_size``. A colour image is
        denoised in an orthonormal opponent colour space (luminance,
        red - blue, green - magenta), each channel with its own mixture,
        then transformed back; the transform keeps white noise white with
        the same ``sigma``.
    sigma : float, default=None
        Standard deviation of the additive white Gaussian noise, in the
        image's units. None estimates it as the median absolute value of the
        image's finest diagonal Haar wavelet coefficients divided by 0.6745
        (Donoho's estimator; over the fitting tiles of a large image).
    patch_size : int, default=8
        Side of the square patches. 8 measured best on the benchmark's
        photographs at sigma 25 and 50 (10 was within the fit's run-to-run
        spread of about 0.3 dB at sigma 50, and slower).
    n_components : int, default=12
        Mixture components.
    covariance_type : {"full", "factor"}, default="full"
        Covariance of each component: dense, or a factor analyser
        (``n_factors`` loadings plus a diagonal).
    n_factors : int, default=None
        Factors per component for ``covariance_type="factor"``
        (:class:`daskmix.GaussianMixture` chooses when None).
    algorithm : {"em", "truncated"}, default="em"
        How the mixture is fitted (see :class:`daskmix.GaussianMixture`);
        "truncated" evaluates each patch on ``n_active`` components per
        iteration, which pays with many components.
    n_active : int, default=3
        Components per patch for ``algorithm="truncated"``.
    max_iter : int, default=20
        EM iterations of the fit.
    tol : float, default=1e-3
        Convergence threshold of the fit.
    reg_covar : float, default=1e-3
        Added to the fitted covariances' diagonals, in units of the noise
        variance.
    fit_stride : int, default=1
        Grid step, in pixels, of the patches the fitting sample is drawn
        from.
    max_fit_patches : int, default=60000
        Size of the fitting sample: patches drawn at random, without
        replacement, from the grid (all of them when it holds fewer). When
        the grid holds more than eight times as many, they are drawn from
        random ``128 x 128`` tiles of the image instead, so a large or lazy
        image is read only there.
    random_state : int, numpy.random.Generator or None, default=0
        Seeds the tiles, the fitting sample and the mixture's initialisation.

    Returns
    -------
    {ndarray, dask.array.Array}
        The denoised image, the shape of ``image``, float32 (float64 for a
        float64 image). A dask image gives a lazy dask array with the same
        chunks.

    Raises
    ------
    ValueError
        For an array that is neither (H, W) nor (H, W, 3), an image smaller
        than a patch, NaN or infinite pixels, a sigma that is not positive, or
        ``sigma=None`` on an image whose noise cannot be estimated.

    See Also
    --------
    daskmix.GaussianMixture : the mixture fitted to the patches.

    Notes
    -----
    **Cost.** The fit sees at most ``max_fit_patches`` patches. Denoising
    costs two matrix products per patch: ``d x K (d - 1)`` for the
    assignment (``d = patch_size**2``) and ``d x d`` for the posterior mean.
    A NumPy image is processed by all cores, one band of rows per thread.

    **Dask images.** The call computes the fitting tiles (at most
    ``max_fit_patches`` patches' worth of pixels) and fits the mixture
    eagerly; it returns a lazy array whose chunks are denoised independently,
    each read with a margin of ``patch_size - 1`` pixels
    (``dask.array.map_overlap``), so memory is bounded by a few chunks.
    The result equals the NumPy result up to float32 rounding (a patch whose
    two most probable components tie within rounding may pick the other);
    chunking changes nothing else. NaN pixels in a chunk outside the fitting
    tiles raise when that chunk is computed.

    **Choices.** The defaults were chosen on scikit-image's ``camera``,
    ``astronaut`` and ``coffee`` at noise 25 and 50 (see the "Image
    denoising" section of the benchmarks page).

    Examples
    --------
    >>> import numpy as np
    >>> from daskmix.imaging import denoise
    >>> rng = np.random.default_rng(0)
    >>> clean = np.add.outer(np.arange(64.0), np.arange(64.0))
    >>> noisy = clean + rng.normal(0, 10, clean.shape)
    >>> out = denoise(noisy, sigma=10, n_components=2)
    >>> bool(np.abs(out - clean).mean() < np.abs(noisy - clean).mean() / 2)
    True
    """
    dask_input = _graph.is_dask_array(image)
    _check_options(
        patch_size=patch_size,
        n_components=n_components,
        covariance_type=covariance_type,
        algorithm=algorithm,
        fit_stride=fit_stride,
        max_fit_patches=max_fit_patches,
    )
    image = image if dask_input else np.asarray(image)
    _check_image(image, patch_size)
    sigma = _check_sigma(sigma)
    dtype = np.float64 if image.dtype == np.float64 else np.float32
    colour = image.ndim == 3
    rng = np.random.default_rng(random_state)
    tiles = _fit_tiles(image.shape[:2], patch_size, fit_stride, max_fit_patches, rng)
    samples = _read_tiles(image, tiles, dask_input)
    if colour:
        samples = [np.einsum("hwc,oc->ohw", s, _OPPONENT) for s in samples]
        channel_samples = [[s[c] for s in samples] for c in range(3)]
    else:
        channel_samples = [samples]
    if sigma is None:
        sigma = estimate_sigma([t for ch in channel_samples for t in ch])
        if sigma is None:
            raise ValueError(
                "sigma could not be estimated: the image is too small or has no "
                "fine-scale variation (for example a constant image). Pass the noise "
                "standard deviation explicitly: denoise(image, sigma=...)."
            )
    fit_options = {
        "n_components": n_components,
        "covariance_type": covariance_type,
        "n_factors": n_factors,
        "algorithm": algorithm,
        "n_active": n_active,
        "max_iter": max_iter,
        "tol": tol,
        "reg_covar": reg_covar,
        "random_state": int(rng.integers(2**31)),
    }
    sample_seed = int(rng.integers(2**31))
    priors = [
        # one seed: every colour channel is fitted on the same patch positions
        _fit_prior(ch, sigma, patch_size, fit_stride, max_fit_patches,
                   np.random.default_rng(sample_seed), **fit_options)
        for ch in channel_samples
    ]
    if not colour:
        return _denoise_channel(image, priors[0], sigma, dtype, dask_input)
    return _denoise_colour(image, priors, sigma, dtype, dask_input)


def _check_options(**options):
    """Validate the integer and string options; raise ValueError naming the fix.

    Parameters
    ----------
    **options
        ``patch_size``, ``n_components``, ``fit_stride``, ``max_fit_patches``
        (integers >= 1, ``patch_size`` >= 2), ``covariance_type`` and
        ``algorithm``.

    """
    for name in ("patch_size", "n_components", "fit_stride", "max_fit_patches"):
        value = options[name]
        low = 2 if name == "patch_size" else 1
        if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    if options["covariance_type"] not in ("full", "factor"):
        raise ValueError(
            "covariance_type must be 'full' or 'factor', got "
            f"{options['covariance_type']!r}."
        )
    if options["algorithm"] not in ("em", "truncated"):
        raise ValueError(f"algorithm must be 'em' or 'truncated', got {options['algorithm']!r}.")


def _check_image(image, patch_size):
    """Raise ValueError unless ``image`` is a real (H, W) or (H, W, 3) array of patch size or more.

    Parameters
    ----------
    image : ndarray or dask.array.Array
    patch_size : int
    """
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(
            f"denoise expects a 2-D greyscale image (H, W) or an RGB image (H, W, 3); "
            f"got an array of shape {image.shape}. For a stack of images, denoise "
            "each one: [denoise(im) for im in stack]; for other channel counts, "
            "denoise each channel: denoise(image[..., c])."
        )
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise ValueError(f"the image must have a real dtype, got {image.dtype}.")
    if min(image.shape[:2]) < patch_size:
        raise ValueError(
            f"the image ({image.shape[0]} x {image.shape[1]}) is smaller than one "
            f"patch ({patch_size} x {patch_size}); pass a smaller patch_size."
        )
    if not _graph.is_dask_array(image):
        _check_finite(image)


def _check_finite(block):
    """Raise ValueError if ``block`` holds NaN or infinite values.

    Parameters
    ----------
    block : ndarray

    Returns
    -------
    ndarray
        ``block``.
    """
    if np.issubdtype(block.dtype, np.floating) and not np.isfinite(block).all():
        raise ValueError(
            "the image contains NaN or infinite pixels; fill them first, for example "
            "image = np.nan_to_num(image, nan=np.nanmedian(image)) (dask: "
            "da.nan_to_num), or inpaint them."
        )
    return block


def _check_sigma(sigma):
    """``sigma`` as a float, or None; ValueError unless positive and finite.

    Parameters
    ----------
    sigma : float or None

    Returns
    -------
    float or None
    """
    if sigma is None:
        return None
    if not isinstance(sigma, Real) or isinstance(sigma, bool):
        raise ValueError(f"sigma must be a positive number or None, got {sigma!r}.")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(
            f"sigma must be positive and finite, got {sigma!r}: it is the noise's "
            "standard deviation in the image's units; pass sigma=None to estimate it."
        )
    return float(sigma)


def _fit_tiles(shape, patch_size, stride, max_patches, rng):
    """Windows of the image the fitting patches are taken from.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    patch_size, stride, max_patches : int
    rng : numpy.random.Generator

    Returns
    -------
    list of tuple of int
        ``(row0, row1, col0, col1)`` windows: the whole image when its grid
        holds at most ``_CANDIDATES_PER_PATCH * max_patches`` patches, else
        random ``128 x 128`` tiles (clipped to the image) whose grids hold
        about that many.
    """
    height, width = shape

    def grid(n):
        return (n - patch_size) // stride + 1

    candidates = _CANDIDATES_PER_PATCH * max_patches
    if grid(height) * grid(width) <= candidates:
        return [(0, height, 0, width)]
    tile_h, tile_w = min(_TILE, height), min(_TILE, width)
    n_tiles = max(1, math.ceil(candidates / (grid(tile_h) * grid(tile_w))))
    rows = rng.integers(0, height - tile_h + 1, size=n_tiles)
    cols = rng.integers(0, width - tile_w + 1, size=n_tiles)
    return [(int(r), int(r) + tile_h, int(c), int(c) + tile_w) for r, c in zip(rows, cols)]


def _read_tiles(image, tiles, dask_input):
    """The pixels of each tile as float64 NumPy arrays (one compute for a dask image).

    Parameters
    ----------
    image : ndarray or dask.array.Array of shape (H, W) or (H, W, 3)
    tiles : list of tuple of int
    dask_input : bool

    Returns
    -------
    list of ndarray
    """
    parts = [image[r0:r1, c0:c1] for r0, r1, c0, c1 in tiles]
    if dask_input:
        parts = _graph.compute(*parts)
    parts = [np.asarray(p, dtype=np.float64) for p in parts]
    for p in parts:
        _check_finite(p)
    return parts


def _fit_prior(tiles, sigma, patch_size, stride, max_patches, rng, **fit_options):
    """The patch prior of one channel, fitted to a random sample of its tiles' grid patches.

    Parameters
    ----------
    tiles : list of ndarray of shape (h, w)
        In the image's units.
    sigma : float
    patch_size, stride, max_patches : int
    rng : numpy.random.Generator
        Draws the sample.
    **fit_options
        Passed to :func:`~daskmix.imaging._prior.fit_patch_prior`.

    Returns
    -------
    PatchPrior
    """
    samples = sample_patches([(t / sigma).astype(np.float32) for t in tiles], patch_size,
                             stride, max_patches, rng)
    centred = samples - samples.mean(axis=1, keepdims=True)
    if not np.any(np.abs(centred) > 1e-6):
        # no texture at all: the noisy model is pure noise, the clean one flat
        m = patch_size * patch_size - 1
        return prior_from_mixture(np.ones(1), np.zeros((1, m)), np.eye(m)[None], patch_size)
    prior, _ = fit_patch_prior(samples, patch_size, **fit_options)
    return prior


def _denoise_scaled(block, prior, sigma):
    """:func:`denoise_image` of ``block / sigma``, times ``sigma``, on one thread.

    Parameters
    ----------
    block : ndarray of shape (h, w)
    prior : PatchPrior
    sigma : float

    Returns
    -------
    ndarray of shape (h, w), float32
    """
    _check_finite(block)
    scaled = np.asarray(block, dtype=np.float32) / np.float32(sigma)
    # small matrix products: more BLAS threads only add hand-offs, and the
    # callers run one block per core
    with single_blas_thread():
        return denoise_image(scaled, prior) * np.float32(sigma)


def _denoise_in_threads(image, prior, sigma):
    """Denoise a NumPy image with one thread per core, split into bands of rows.

    Each band is denoised with a margin of ``patch_size - 1`` rows, so the
    result equals denoising the whole image at once.

    Parameters
    ----------
    image : ndarray of shape (H, W)
    prior : PatchPrior
    sigma : float

    Returns
    -------
    ndarray of shape (H, W), float32
    """
    height = image.shape[0]
    margin = prior.patch_size - 1
    n_bands = max(1, min(os.cpu_count() or 1, height // (4 * prior.patch_size)))
    edges = np.linspace(0, height, n_bands + 1).round().astype(int)

    def run(i):
        top, bottom = edges[i], edges[i + 1]
        lo, hi = max(0, top - margin), min(height, bottom + margin)
        return _denoise_scaled(image[lo:hi], prior, sigma)[top - lo : bottom - lo]

    if n_bands == 1:
        return run(0)
    with concurrent.futures.ThreadPoolExecutor(n_bands) as pool:
        return np.concatenate(list(pool.map(run, range(n_bands))))


def _denoise_channel(image, prior, sigma, dtype, dask_input):
    """Denoise one greyscale channel, NumPy or dask.

    Parameters
    ----------
    image : ndarray or dask.array.Array of shape (H, W)
    prior : PatchPrior
    sigma : float
    dtype : numpy dtype
        Of the result.
    dask_input : bool

    Returns
    -------
    ndarray or dask.array.Array of shape (H, W)
    """
    if not dask_input:
        return _denoise_in_threads(image, prior, sigma).astype(dtype, copy=False)
    out = map_overlap_2d(
        image,
        _denoise_block,
        prior.patch_size - 1,
        name="denoise",
        dtype=dtype,
        prior=prior,
        sigma=sigma,
        out_dtype=dtype,
    )
    if out.chunks != image.chunks:
        out = out.rechunk(image.chunks)
    return out


def _denoise_block(block, *, prior, sigma, out_dtype):
    """Per-chunk kernel of the dask path: :func:`_denoise_scaled` cast to ``out_dtype``.

    Parameters
    ----------
    block : ndarray of shape (h, w)
    prior : PatchPrior
    sigma : float
    out_dtype : numpy dtype

    Returns
    -------
    ndarray of shape (h, w)
    """
    return _denoise_scaled(block, prior, sigma).astype(out_dtype, copy=False)


def _denoise_colour(image, priors, sigma, dtype, dask_input):
    """Denoise an RGB image channel by channel in the opponent colour space.

    Parameters
    ----------
    image : ndarray or dask.array.Array of shape (H, W, 3)
    priors : list of PatchPrior
        One per opponent channel.
    sigma : float
    dtype : numpy dtype
    dask_input : bool

    Returns
    -------
    ndarray or dask.array.Array of shape (H, W, 3)
    """
    weights = _OPPONENT
    channels = []
    for c in range(3):
        opponent = sum(image[..., i] * weights[c, i] for i in range(3))
        if not dask_input:
            opponent = np.asarray(opponent)
        channels.append(_denoise_channel(opponent, priors[c], sigma, dtype, dask_input))
    rgb = [sum(channels[c] * dtype(weights[c, i]) for c in range(3)) for i in range(3)]
    if not dask_input:
        return np.stack(rgb, axis=-1).astype(dtype, copy=False)
    return stack_channels(rgb, image.chunks)
