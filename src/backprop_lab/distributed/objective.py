"""The distributed objective: J(theta) and dJ/dtheta summed over a collection's partitions.

One pass at theta computes S = sum_p S_p (partials.partition_sums) over the partitions
p = 0 .. P-1, added in the fixed pairwise tree of partials.tree_sum over p, so the bits of
S depend only on the partitioning, never on which worker holds which partition.

Persisted partitions (futures in worker memory): one task per worker thread, not one per
partition. Each pass asks the scheduler where the partitions are (``who_has``), deals each
worker's partitions among its threads (largest first, to the thread with the fewest
bytes), and submits one ``partials.group_sums`` task per group with the group's futures as
its dependencies: the scheduler runs it where they are (no worker restriction, so a task
whose worker dies runs elsewhere, its lost partitions read again from their recipe). The
task returns its partitions' S_p stacked; the client puts the rows back in partition
order and adds them in the same tree: 2 workers x 1 thread make 2 tasks per pass where
one task per partition and per addition made 2P - 1.

Streamed partitions (delayed recipes, read again every pass): one task per partition and
per addition, as dask's graph; reading a partition costs far more than its task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.fused import FusedNetwork
from ..engine.fused.kernels import finish_batch
from .partials import group_sums, partition_sums, tree_sum


def thread_groups(
    holders: Sequence[Sequence[str]], nthreads: dict[str, int], nbytes: Sequence[int]
) -> list[list[int]]:
    """Partition indices in groups of one worker thread each.

    ``holders[p]``: the workers holding partition p (none while it is being read again).
    In index order, partition p goes to the one of its holders with the fewest bytes so
    far (ties by address: a replicated partition evens the workers out); a worker's
    partitions are then dealt, largest first (ties by index), to the one of its
    ``nthreads`` groups with the fewest bytes so far (ties by group). A partition with no
    holder is a group of its own. Each group lists its partitions in increasing index.
    """
    by_worker: dict[str, list[int]] = {}
    held_bytes: dict[str, int] = {}
    groups: list[list[int]] = []
    for p, where in enumerate(holders):
        if where:
            worker = min(where, key=lambda w: (held_bytes.get(w, 0), w))
            by_worker.setdefault(worker, []).append(p)
            held_bytes[worker] = held_bytes.get(worker, 0) + int(nbytes[p])
        else:
            groups.append([p])
    for worker in sorted(by_worker):
        held = by_worker[worker]
        k = max(1, min(int(nthreads.get(worker, 1)), len(held)))
        dealt: list[list[int]] = [[] for _ in range(k)]
        load = [0] * k
        for p in sorted(held, key=lambda q: (-int(nbytes[q]), q)):
            g = min(range(k), key=lambda j: (load[j], j))
            dealt[g].append(p)
            load[g] += int(nbytes[p])
        groups.extend(sorted(group) for group in dealt)
    return groups


@dataclass
class Objective:
    """J(theta) and dJ/dtheta summed over persisted (or streamed) partitions."""

    client: Any
    parts: list
    network: FusedNetwork
    loss_code: int
    l2: float
    passes: int = 0
    tasks: int = 0  # tasks submitted by the passes (persisted: one per worker thread)
    _nbytes: list[int] | None = field(default=None, init=False, repr=False)
    _nthreads: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def _groups(self) -> list[list[int]]:
        """thread_groups of the persisted partitions where the scheduler has them now (one
        round trip; a worker's thread count asked once, when it first holds a partition)."""
        who = self.client.who_has(self.parts)
        holders = [list(who.get(f.key, ())) for f in self.parts]
        if any(w not in self._nthreads for where in holders for w in where):
            self._nthreads = {str(w): int(n) for w, n in self.client.nthreads().items()}
        if self._nbytes is None:  # a partition's size: the same when read again
            sizes = self.client.nbytes([f.key for f in self.parts], summary=False)
            self._nbytes = [int(sizes.get(f.key, 0)) for f in self.parts]
        return thread_groups(holders, self._nthreads, self._nbytes)

    def sums(self, theta: np.ndarray, need_grad: bool) -> np.ndarray:
        """sum_p S_p, added in the fixed pairwise tree of partials.tree_sum over p."""
        from dask import delayed
        from distributed import Future

        theta = np.array(theta, dtype=np.float64)
        args = (theta, self.network, self.loss_code, need_grad)
        self.passes += 1
        if all(isinstance(p, Future) for p in self.parts):  # persisted: a task per thread
            groups = self._groups()
            futures = [
                self.client.submit(group_sums, [self.parts[p] for p in g], *args, pure=False)
                for g in groups
            ]
            self.tasks += len(futures)
            rows: list[Any] = [None] * len(self.parts)
            for group, stacked in zip(groups, self.client.gather(futures), strict=True):
                for p, row in zip(group, stacked, strict=True):
                    rows[p] = row
            return np.asarray(tree_sum(rows, np.add))
        leaves = [delayed(partition_sums, pure=False)(p, *args) for p in self.parts]
        root = tree_sum(leaves, delayed(np.add, pure=False))
        self.tasks += 2 * len(self.parts) - 1
        return np.asarray(self.client.compute(root).result())

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """(J, dJ/dtheta) = (S_loss / S_w + (l2/2) sum ||W||^2, S_grad / S_w + l2 W)."""
        n = self.network.n_params
        total = self.sums(theta, True)
        w_sum = total[n + 2] if total[n + 2] != 0.0 else 1.0
        out = (total[: n + 2] / w_sum).reshape(1, -1)
        grad = np.zeros(n)
        value, _ = finish_batch(
            out, np.asarray(theta, np.float64), self.network.layout, self.l2, 1.0, True, grad
        )
        return float(value), grad

    def data_loss(self, theta: np.ndarray) -> float:
        """sum w_i l_i / sum w_i, without the penalty (the validation log loss)."""
        n = self.network.n_params
        total = self.sums(theta, False)
        return float(total[n] / total[n + 2]) if total[n + 2] > 0 else 0.0
