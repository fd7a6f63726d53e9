"""Take docs/_static/dashboard.png: the Dask dashboard during a real daskmix fit.

Run by hand (not in the tests), from the root of the repository::

    python docs/tools/dashboard_screenshot.py

It needs two things that are not daskmix dependencies: ``bokeh>=3.1`` (the
dashboard) and a Chromium or Chrome browser (``chromium``,
``chromium-browser`` or ``google-chrome`` on the PATH) for its headless
``--screenshot``. It starts a ``LocalCluster`` of 2 single-threaded workers,
runs exact EM on 2,000,000 x 16 synthetic rows (generated lazily, chunk by
chunk) in a background thread, and, once the fit's E-step tasks are
running, screenshots the dashboard's status page (task stream, progress by
task name, worker memory) with the pointer on a task of the task stream,
whose tooltip shows its full name. Options: ``--output`` (default
``docs/_static/dashboard.png``), ``--delay`` (seconds of EM iterations
before the picture, default 6).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import dask
import dask.array as da
from dask.utils import key_split
from distributed import Client, LocalCluster

from daskmix import GaussianMixture

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def synthetic_rows(n_rows=2_000_000, n_features=16, chunk_rows=100_000):
    """Eight shifted Gaussian blobs, generated lazily chunk by chunk."""
    rng = da.random.default_rng(0)
    X = rng.standard_normal((n_rows, n_features), chunks=(chunk_rows, n_features))
    shift = (da.arange(n_rows, chunks=chunk_rows) % 8 * 3.0)[:, None]
    return X + shift


def browser():
    """The first Chromium-like browser on the PATH."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit(f"no browser found: install one of {', '.join(BROWSERS)}")


async def _devtools(browser_ws, url, output, width, height, settle, hover):
    """Open ``url`` in a new tab over the DevTools protocol, wait, save a screenshot."""
    import base64
    import itertools
    import json

    from tornado.websocket import websocket_connect

    ids = itertools.count(1)
    connection = await websocket_connect(browser_ws, max_message_size=2**28)

    async def call(method, session=None, **params):
        message = {"id": next(ids), "method": method, "params": params}
        if session:
            message["sessionId"] = session
        connection.write_message(json.dumps(message))
        while True:
            reply = json.loads(await connection.read_message())
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    target = (await call("Target.createTarget", url="about:blank"))["targetId"]
    session = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
    await call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
               deviceScaleFactor=1, mobile=False)
    await call("Page.navigate", session, url=url)
    # the dashboard draws with bokeh over a websocket: give it real time
    await asyncio.sleep(settle)
    if hover is not None:
        # the progress bars cut names at 15 characters; the task stream's
        # tooltip shows a task's full name
        x, y = hover
        await call("Input.dispatchMouseEvent", session, type="mouseMoved", x=x, y=y)
        await asyncio.sleep(1.0)
    shot = await call("Page.captureScreenshot", session, format="png")
    Path(output).write_bytes(base64.b64decode(shot["data"]))
    connection.close()


def screenshot(url, output, width=1600, height=1000, settle=8.0, hover=None):
    """Save a headless browser's picture of ``url`` to ``output``, ``settle`` s after loading.

    ``hover``, a point ``(x, y)`` in pixels, puts the mouse pointer there
    before the picture (on a task of the task stream, its tooltip).

    Chromium's own ``--screenshot`` fires before bokeh has drawn anything, so
    the page is driven over the DevTools protocol (with tornado's websocket
    client, which ``distributed`` brings).
    """
    with tempfile.TemporaryDirectory() as profile:
        process = subprocess.Popen(
            [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            for line in process.stderr:
                match = re.search(r"DevTools listening on (ws://\S+)", line)
                if match:
                    break
            else:
                raise SystemExit("the browser did not start its DevTools endpoint")
            asyncio.run(_devtools(match.group(1), url, output, width, height, settle, hover))
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_for_tasks(client, prefix, timeout=300):
    """Wait until some worker runs a task whose name starts with ``prefix``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(key_split(k).startswith(prefix)
               for keys in client.processing().values() for k in keys):
            return
        time.sleep(0.1)
    raise SystemExit(f"no {prefix} task ran within {timeout} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="docs/_static/dashboard.png")
    parser.add_argument("--delay", type=float, default=6.0,
                        help="seconds of EM iterations before the screenshot")
    args = parser.parse_args()
    output = Path(args.output).resolve()
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0",
                      processes=True) as cluster, Client(cluster) as client:
        X = synthetic_rows()
        model = GaussianMixture(8, covariance_type="diag", max_iter=100, tol=0,
                                random_state=0)

        def fit():
            try:
                with dask.config.set(scheduler=client):
                    model.fit(X)
            except Exception:
                pass

        threading.Thread(target=fit, daemon=True).start()
        wait_for_tasks(client, "daskmix-gmm-estep")  # past the k-means|| seeding
        url = client.dashboard_link.replace("/status", "") + "/status"
        # the pointer on the first worker's row of the task stream, near "now"
        screenshot(url, output, settle=args.delay, hover=(1480, 200))
        print(f"saved {output} from {url}")
        # the fit is still running: close the cluster under it, quietly
        logging.getLogger("distributed").setLevel(logging.CRITICAL)


if __name__ == "__main__":
    main()
