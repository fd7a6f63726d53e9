"""``daskmix.imaging.denoise``: quality on a synthetic image, NumPy against dask, errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from daskmix.imaging import denoise
from daskmix.imaging._sigma import estimate_sigma
from tests.imaging.conftest import SIGMA

#: the documented tolerance between the NumPy path and any chunking of the dask
#: path, relative to sigma: float32 rounding (a near-tie may pick another component)
TOLERANCE = 1e-3

OPTIONS = {"n_components": 4, "max_iter": 10}


def _rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, dtype=np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def denoised(noisy):
    """``denoise(noisy, SIGMA, **OPTIONS)`` on the NumPy path, made once for the module."""
    out = denoise(noisy, SIGMA, **OPTIONS)
    out.flags.writeable = False
    return out


def test_denoise_removes_most_of_the_noise(clean, noisy, denoised):
    out = denoised
    assert out.shape == clean.shape and out.dtype == np.float64
    assert _rmse(out, clean) < 0.5 * _rmse(noisy, clean)


def test_constant_image_stays_constant():
    image = np.full((40, 36), 7.5)
    np.testing.assert_allclose(denoise(image, 5.0, **OPTIONS), image, rtol=1e-6)


def test_noise_only_image_becomes_its_mean_level():
    rng = np.random.default_rng(5)
    noisy = 100 + SIGMA * rng.standard_normal((64, 64))
    out = denoise(noisy, SIGMA, **OPTIONS)
    assert np.std(out) < 0.25 * SIGMA


def _chunk_layouts():
    # one chunk; even; ragged with a chunk smaller than the patch margin (merged by dask)
    return {"one": (72, 88), "even": (36, 44), "ragged": ((30, 5, 37), (50, 38))}


@pytest.mark.parametrize("layout", sorted(_chunk_layouts()))
def test_dask_path_matches_numpy_path_and_keeps_chunks(noisy, denoised, layout):
    expected = denoised
    image = da.from_array(noisy, chunks=_chunk_layouts()[layout])
    out = denoise(image, SIGMA, **OPTIONS)
    assert isinstance(out, da.Array) and out.chunks == image.chunks
    values = out.compute()
    close = np.abs(values - expected) <= TOLERANCE * SIGMA
    # rounding may flip a near-tie between two components for a handful of patches
    assert close.mean() > 0.995
    assert _rmse(values, expected) < 0.05 * SIGMA


def test_large_image_fits_on_a_bounded_sample_from_tiles(noisy):
    image = np.tile(noisy, (3, 3))
    small = denoise(image, SIGMA, max_fit_patches=500, **OPTIONS)
    lazy = denoise(da.from_array(image, chunks=(100, 120)), SIGMA, max_fit_patches=500,
                   **OPTIONS)
    assert np.mean(np.abs(lazy.compute() - small) <= TOLERANCE * SIGMA) > 0.995


def test_float32_and_integer_images_give_float32(clean):
    rng = np.random.default_rng(1)
    noisy = np.clip(clean + SIGMA * rng.standard_normal(clean.shape), 0, 255)
    for image in (noisy.astype(np.float32), noisy.round().astype(np.uint8)):
        out = denoise(image, SIGMA, **OPTIONS)
        assert out.dtype == np.float32
        assert _rmse(out, clean) < 0.6 * _rmse(image, clean)


def test_colour_image_numpy_and_dask(clean):
    rng = np.random.default_rng(2)
    rgb = np.stack([clean, 255 - clean, 0.5 * clean + 60], axis=-1)
    noisy = rgb + SIGMA * rng.standard_normal(rgb.shape)
    out = denoise(noisy, SIGMA, **OPTIONS)
    assert out.shape == rgb.shape
    assert _rmse(out, rgb) < 0.5 * _rmse(noisy, rgb)
    lazy = denoise(da.from_array(noisy, chunks=(36, 44, 3)), SIGMA, **OPTIONS)
    assert lazy.chunks == ((36, 36), (44, 44), (3,))
    assert np.mean(np.abs(lazy.compute() - out) <= TOLERANCE * SIGMA) > 0.995


def test_sigma_is_estimated_when_missing(clean, noisy):
    assert estimate_sigma([noisy]) == pytest.approx(SIGMA, rel=0.15)
    out = denoise(noisy, **OPTIONS)
    assert _rmse(out, clean) < 0.5 * _rmse(noisy, clean)


def test_sigma_estimate_of_pure_noise():
    noise = 3.0 * np.random.default_rng(4).standard_normal((256, 256))
    assert estimate_sigma([noise]) == pytest.approx(3.0, rel=0.03)


@pytest.mark.parametrize(
    ("image", "sigma", "match"),
    [
        (np.zeros((20, 20, 4)), 1.0, r"\(H, W, 3\).*denoise\(image\[\.\.\., c\]\)"),
        (np.zeros((3, 20, 20)), 1.0, r"\[denoise\(im\) for im in stack\]"),
        (np.zeros(50), 1.0, "2-D greyscale"),
        (np.zeros((5, 30)), 1.0, "smaller patch_size"),
        (np.where(np.eye(20) > 0, np.nan, 1.0), 1.0, "nan_to_num"),
        (np.ones((20, 20)), -2.0, "sigma=None to estimate it"),
        (np.ones((20, 20)), 0.0, "sigma must be positive"),
        (np.ones((20, 20)), None, r"denoise\(image, sigma=\.\.\.\)"),
        (np.ones((3, 3)), None, "smaller patch_size"),
    ],
    ids=["four-channels", "stack", "1-d", "too-small", "nan", "negative-sigma", "zero-sigma",
         "constant-without-sigma", "tiny"],
)
def test_bad_inputs_name_the_fix(image, sigma, match):
    with pytest.raises(ValueError, match=match):
        denoise(image, sigma)


def test_nan_in_a_dask_image_raises_at_the_latest_when_computed(noisy):
    image = np.tile(noisy, (3, 3))
    image[-1, -1] = np.nan
    lazy = da.from_array(image, chunks=(72, 88))
    # the fitting tiles may miss the NaN: then the chunk holding it raises
    with pytest.raises(ValueError, match="nan_to_num"):
        denoise(lazy, SIGMA, max_fit_patches=50, **OPTIONS).compute()


@pytest.mark.parametrize(("name", "value"), [("patch_size", 1), ("n_components", 0),
                                              ("covariance_type", "diag"),
                                              ("algorithm", "minibatch")])
def test_bad_options(noisy, name, value):
    with pytest.raises(ValueError, match=name):
        denoise(noisy, SIGMA, **{name: value})
