"""Refuse sizes the machine cannot hold, before allocating anything.

    require_memory("--hidden 100000 100000", network_bytes(7, [100000, 100000], 1, 500))

raises :class:`~backprop_lab._util.errors.InputError` naming the option, the bytes it would
need and the bytes available, instead of a ``MemoryError`` traceback minutes later (or
the kernel's out-of-memory killer). Estimates are deliberately rough lower bounds, so
that a run that fits is never refused; what they count is in each docstring.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

from .errors import InputError

#: Bytes of one float64.
FLOAT_BYTES = 8


def _meminfo_available() -> int | None:
    """MemAvailable of /proc/meminfo (Linux): free memory plus reclaimable caches."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """The memory limit of this process's control group (v2, then v1) less its usage."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:  # 'max' or a huge number: no limit
            return max(int(limit) - usage, 0)
    return None


def available_memory() -> int:
    """Bytes this process can still allocate, roughly: /proc/meminfo's MemAvailable, capped
    by a control-group limit; physical memory where neither can be read."""
    candidates = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    if candidates:
        return min(candidates)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1  # unknown: refuse nothing


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; powers of 1024 up to EiB."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"


def require_memory(what: str, needed: float) -> None:
    """Raise :class:`InputError` when ``needed`` bytes exceed the available memory."""
    available = available_memory()
    if needed > available:
        raise InputError(
            f"{what} needs about {format_bytes(needed)} of memory, more than the "
            f"{format_bytes(available)} available; choose a smaller value"
        )


def network_bytes(
    n_inputs: int,
    hidden: Sequence[int],
    n_outputs: int,
    n_rows: int,
    *,
    parameter_copies: int = 4,
    activation_copies: int = 2,
) -> int:
    """8 bytes x (c_p P + c_a N (d + sum_l h_l + K)) for an MLP d-h_1-...-h_L-K on N rows.

    P = sum over consecutive layer widths (a, b) of (a + 1) b weights and biases, kept in
    ``parameter_copies`` arrays (weights, gradients, and Adam's two moments); each row's
    layer outputs are kept ``activation_copies`` times (forward values and their
    gradients) by a full-batch pass.
    """
    widths = [int(n_inputs), *(int(h) for h in hidden), int(n_outputs)]
    parameters = sum((a + 1) * b for a, b in itertools.pairwise(widths))
    activations = int(n_rows) * sum(widths)
    return FLOAT_BYTES * (parameter_copies * parameters + activation_copies * activations)
