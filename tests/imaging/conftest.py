"""Synthetic images for the denoiser's tests: no image files, no scikit-image."""

from __future__ import annotations

import numpy as np
import pytest

SIGMA = 20.0


def synthetic_image(height=72, width=88):
    """A piecewise-smooth grey image in [0, 255]: a ramp, a bright disc, a striped square."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    image = 40 + 100 * cols / width
    disc = (rows - height / 3) ** 2 + (cols - width / 3) ** 2 < (min(height, width) / 5) ** 2
    image[disc] = 220
    square = (rows > height / 2) & (cols > width / 2)
    image[square] = 60 + 80 * (np.sin(cols[square] / 2) > 0)
    return image


@pytest.fixture(scope="module")
def clean():
    """The clean synthetic image (72 x 88)."""
    return synthetic_image()


@pytest.fixture(scope="module")
def noisy(clean):
    """The synthetic image plus white Gaussian noise of standard deviation SIGMA."""
    return clean + SIGMA * np.random.default_rng(0).standard_normal(clean.shape)
