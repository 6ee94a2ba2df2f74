"""Dask, imported only when asked for; connecting to a scheduler or starting a local cluster."""

from __future__ import annotations

from typing import Any

#: Environment of the worker processes of a local cluster: Arrow allocates through
#: malloc, which returns freed memory to the system (Arrow's own pool keeps what it
#: freed, several times the rows' size after reading Parquet). Set the same on the
#: workers of any cluster that reads Parquet files.
WORKER_ENV = {"ARROW_DEFAULT_MEMORY_POOL": "system"}

#: Seconds to wait for a scheduler before saying it cannot be reached.
CONNECT_TIMEOUT_S = 5.0


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answered at the address given."""


def require_dask() -> None:
    """Raise one clear ImportError when dask (with dataframe support) or distributed is missing."""
    try:
        import dask.array
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"training on a Dask cluster needs the 'dask' extra ({error}); install it with "
            "pip install 'backprop-lab[dask]'"
        ) from None


def is_dask_collection(value: object) -> bool:
    """Is ``value`` a dask collection (array, dataframe, series)? Never imports dask."""
    return hasattr(value, "__dask_graph__") and hasattr(value, "__dask_keys__")


def connect(
    scheduler: str = "local",
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    memory_limit: str | int = "auto",
    timeout: float = CONNECT_TIMEOUT_S,
) -> Any:
    """A ``distributed.Client``: to the scheduler at ``scheduler`` (``tcp://HOST:8786``),
    or, for ``'local'``, to a new LocalCluster of ``n_workers`` worker processes on this
    machine, closed with the client (``client.close()`` or ``with connect() as client``).

    An address where no scheduler answers within ``timeout`` seconds raises
    :class:`SchedulerUnreachable` with one line naming it.
    """
    require_dask()
    from distributed import Client

    if scheduler == "local":
        return Client(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=":0",
            env=WORKER_ENV,
        )
    if "://" not in scheduler:
        scheduler = f"tcp://{scheduler}"
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SchedulerUnreachable(
            f"cannot reach the Dask scheduler at {scheduler} within {timeout:g} s ({reason})"
        ) from None


def current_client() -> Any:
    """The client in use (the last one created, as dask's ``get_client`` finds it)."""
    require_dask()
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        raise RuntimeError(
            "no Dask client: create one first, e.g. backprop_lab.distributed.connect('local') "
            "or distributed.Client('tcp://HOST:8786')"
        ) from None
