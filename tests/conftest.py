"""Shared fixtures: small, seeded data sets."""

import numpy as np
import pytest


@pytest.fixture
def linear_data():
    """400 rows, 7 standardised features, labels from a known logistic model."""
    rng = np.random.default_rng(42)
    X = rng.normal(size=(400, 7))
    w = np.array([0.8, -1.0, 1.2, -0.6, 1.5, -0.3, -0.7])
    p = 1.0 / (1.0 + np.exp(-(X @ w)))
    y = (rng.random(400) < p).astype(float)
    return X, y


@pytest.fixture(scope="session")
def dask_client():
    """A real two-process LocalCluster (one thread each), shared by the distributed tests.

    Skipped without the ``dask`` extra. Worker processes start in a few seconds; the
    cluster closes at the end of the session.
    """
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()
