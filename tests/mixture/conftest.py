"""Fixtures shared by the mixture tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def in_process_client():
    """One ``distributed`` client with threads in this process, for the checks' many tiny fits."""
    from distributed import Client

    with Client(processes=False, n_workers=1, threads_per_worker=2,
                dashboard_address=None) as client:
        yield client
