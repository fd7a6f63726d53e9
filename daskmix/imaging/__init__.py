"""Image processing on top of the mixtures: zero-shot patch denoising.

``denoise(image, sigma)`` fits a :class:`daskmix.GaussianMixture` to the noisy
image's own patches and replaces each patch by its posterior mean; NumPy or
dask images, greyscale or RGB.
"""

from daskmix.imaging._denoise import denoise

__all__ = ["denoise"]
