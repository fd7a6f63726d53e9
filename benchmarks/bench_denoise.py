"""Zero-shot image denoising: ``daskmix.imaging.denoise`` against non-local means and BM3D (issue 17).

Run from the repository root::

    python benchmarks/bench_denoise.py            # the table: 3 images x sigma 25, 50
    python benchmarks/bench_denoise.py --quick    # one round
    python benchmarks/bench_denoise.py --check    # other images, quality only
    python benchmarks/bench_denoise.py --large    # 8192 x 8192 dask image: kpx/s, peak RSS

The images are scikit-image's ``camera``, ``astronaut`` and ``coffee``
(colour ones converted to grey with ``skimage.color.rgb2gray``), scaled to
[0, 255] float64. Gaussian noise of standard deviation 25 and 50 is added
from ``numpy.random.default_rng(seed)`` with one fixed seed per (image,
sigma) pair. Every method is told the true sigma:

- daskmix: ``denoise(noisy, sigma)`` with its defaults (fit included);
- non-local means: ``skimage.restoration.denoise_nl_means`` with
  ``h = 0.8 sigma``, ``patch_size=7``, ``patch_distance=11``,
  ``fast_mode=True``, ``sigma=sigma``;
- BM3D: ``bm3d.bm3d(noisy, sigma_psd=sigma)``, only when the ``bm3d``
  package imports.

PSNR (peak 255, no clipping) is deterministic; its gain over the noisy
image is reported. Speed is kilopixels per second of the whole call: each
method is warmed up once, then ``--repeats`` rounds interleave methods and
images so that a busy spell of the machine hits all alike; best and median.

``--large`` builds an 8192 x 8192 image lazily from 512 x 512 cells (camera,
astronaut, coffee reflected to 512 rows, in turn) plus noise of sigma 25
generated per chunk, as a dask array of 1024 x 1024 chunks, denoises it on
the local threaded scheduler and reduces the squared error chunk by chunk
(the result is never gathered), and reports kpx/s, PSNR gain and the
process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np

from daskmix.imaging import denoise

SIGMAS = (25, 50)
IMAGES = ("camera", "astronaut", "coffee")
CHECK_IMAGES = ("chelsea", "brick")


def load(name):
    """A scikit-image sample image as grey float64 in [0, 255]."""
    from skimage import color, data

    image = getattr(data, name)()
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3]) * 255.0
    return np.asarray(image, dtype=np.float64)


def psnr(estimate, clean):
    """Peak signal-to-noise ratio in dB, peak 255."""
    return 10 * np.log10(255.0**2 / np.mean((np.asarray(estimate, dtype=np.float64) - clean) ** 2))


def methods():
    """``{name: callable(noisy, sigma) -> estimate}``; BM3D only when installed."""
    from skimage.restoration import denoise_nl_means

    out = {
        "daskmix": lambda noisy, sigma: denoise(noisy, sigma),
        "nl-means": lambda noisy, sigma: denoise_nl_means(
            noisy, h=0.8 * sigma, sigma=sigma, patch_size=7, patch_distance=11,
            fast_mode=True,
        ),
    }
    try:
        import bm3d
    except ImportError:
        return out
    out["bm3d"] = lambda noisy, sigma: bm3d.bm3d(noisy, sigma_psd=sigma)
    return out


def cases(names):
    """``[(image, sigma, clean, noisy)]`` with one fixed seed per pair."""
    out = []
    for i, name in enumerate(names):
        clean = load(name)
        for j, sigma in enumerate(SIGMAS):
            rng = np.random.default_rng(1000 + 10 * i + j)
            out.append((name, sigma, clean, clean + sigma * rng.standard_normal(clean.shape)))
    return out


def run_table(names, repeats, timing=True):
    """Print PSNR gains (and kpx/s when ``timing``) of every method on every case."""
    calls = methods()
    data = cases(names)
    for call in calls.values():  # warm-up: imports, compiled code, thread pools
        crop = data[0][3][:96, :96]
        call(crop, data[0][1])
    gains, speeds = {}, {}
    for round_ in range(max(repeats, 1)):
        for name, sigma, clean, noisy in data:
            for method, call in calls.items():
                start = time.perf_counter()
                estimate = call(noisy, sigma)
                seconds = time.perf_counter() - start
                speeds.setdefault((method, name, sigma), []).append(clean.size / seconds / 1e3)
                if round_ == 0:
                    gains[method, name, sigma] = psnr(estimate, clean) - psnr(noisy, clean)
                    print(f"  {method:9s} {name:10s} sigma {sigma}: "
                          f"{gains[method, name, sigma]:+.2f} dB, {speeds[method, name, sigma][-1]:.1f} kpx/s",
                          flush=True)
    print()
    header = "| image | sigma | " + " | ".join(f"{m} gain" for m in calls)
    if timing:
        header += " | " + " | ".join(f"{m} kpx/s best (median)" for m in calls)
    print(header + " |")
    print("|---|---:|" + "---:|" * (len(calls) * (2 if timing else 1)))
    for sigma in SIGMAS:
        for name in names:
            row = f"| {name} | {sigma} | " + " | ".join(
                f"{gains[m, name, sigma]:+.2f} dB" for m in calls)
            if timing:
                row += " | " + " | ".join(
                    f"{max(speeds[m, name, sigma]):.1f} ({statistics.median(speeds[m, name, sigma]):.1f})"
                    for m in calls)
            print(row + " |")
        row = f"| **mean** | {sigma} | " + " | ".join(
            f"**{np.mean([gains[m, n, sigma] for n in names]):+.2f} dB**" for m in calls)
        if timing:
            row += " | " + " | ".join(
                f"{np.mean([max(speeds[m, n, sigma]) for n in names]):.1f} "
                f"({np.mean([statistics.median(speeds[m, n, sigma]) for n in names]):.1f})"
                for m in calls)
        print(row + " |")


def _cell_image():
    """The 512 x 512 cells of the large image: camera, astronaut, coffee (reflected)."""
    cells = []
    for name in IMAGES:
        image = load(name)[:512, :512]
        pad = ((0, 512 - image.shape[0]), (0, 512 - image.shape[1]))
        cells.append(np.pad(image, pad, mode="reflect"))
    return np.stack(cells).astype(np.float32)


def _clean_block(cells, block_info=None):
    (r0, r1), (c0, c1) = block_info[None]["array-location"]
    rows, cols = np.arange(r0, r1), np.arange(c0, c1)
    which = (rows[:, None] // 512 + cols[None, :] // 512) % len(cells)
    return cells[which, rows[:, None] % 512, cols[None, :] % 512]


def _noise_block(sigma, block_info=None):
    shape = block_info[None]["chunk-shape"]
    seed = block_info[None]["chunk-location"]
    rng = np.random.default_rng([1234, *seed])
    return (sigma * rng.standard_normal(shape)).astype(np.float32)


def run_large(size, chunk, sigma=25):
    """Denoise a ``size x size`` dask image; print kpx/s, PSNR gain, peak RSS."""
    import dask
    import dask.array as da

    cells = _cell_image()
    chunks = (chunk, chunk)
    clean = da.zeros((size, size), chunks=chunks, dtype=np.float32).map_blocks(
        lambda b, block_info=None: _clean_block(cells, block_info), dtype=np.float32)
    noise = da.zeros((size, size), chunks=chunks, dtype=np.float32).map_blocks(
        lambda b, block_info=None: _noise_block(sigma, block_info), dtype=np.float32)
    noisy = clean + noise
    start = time.perf_counter()
    out = denoise(noisy, sigma)
    fitted = time.perf_counter() - start
    mse_noisy = da.mean((noisy - clean).astype(np.float64) ** 2)
    mse_out = da.mean((out - clean).astype(np.float64) ** 2)
    with dask.config.set(scheduler="threads"):
        mse_out, = dask.compute(mse_out)
    seconds = time.perf_counter() - start
    mse_noisy, = dask.compute(mse_noisy)
    gain = 10 * np.log10(mse_noisy / mse_out)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"| {size} x {size} | {chunk} x {chunk} | {sigma} | {gain:+.2f} dB | "
          f"{size * size / seconds / 1e3:.1f} kpx/s ({seconds:.0f} s, fit {fitted:.1f} s) | "
          f"{peak:.2f} GB |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--check", action="store_true",
                        help="quality on other images (chelsea, brick), no timing")
    parser.add_argument("--large", action="store_true", help="the 8192 x 8192 dask image")
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--chunk", type=int, default=1024)
    args = parser.parse_args()
    if args.large:
        run_large(args.size, args.chunk)
    elif args.check:
        run_table(CHECK_IMAGES, 1, timing=False)
    else:
        run_table(IMAGES, 1 if args.quick else args.repeats)


if __name__ == "__main__":
    main()
