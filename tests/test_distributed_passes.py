"""A pass over persisted partitions: one task per worker thread, the bits of one task per
partition.

The grouped pass computes each S_p with the same partials.partition_sums and adds the S_p
in the same pairwise tree over the partition index as a pass of one task per partition
and one per addition, so the two give equal bits (compared with ``array_equal``, no
tolerance), wherever the partitions are held.
"""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")

N = 1000
CHUNKS = (90, 130, 70, 200, 60, 110, 140, 200)  # 8 partitions of unequal sizes


@pytest.fixture(scope="module")
def problem():
    from backprop_lab.engine.fused import compile_network
    from backprop_lab.nn import mlp

    rng = np.random.default_rng(4)
    X = rng.normal(size=(N, 7))
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=N) > 0).astype(np.int64)
    sw = rng.uniform(0.5, 2.0, size=N)
    network = mlp(7, hidden=(8,), n_outputs=1, activation="tanh", init="xavier", seed=5)
    fused = compile_network(network)
    theta = fused.flatten(network.params) + rng.normal(0, 0.3, fused.n_params)
    return X, y, sw, fused, theta


def _parts(client, problem, workers=None):
    """The partitions' Parts persisted: dealt to the workers in turn (training._rows),
    or all held by ``workers``."""
    from backprop_lab.distributed.partials import RowSpec
    from backprop_lab.distributed.training import CollectionSource, _rows

    X, y, sw, _, _ = problem
    source = CollectionSource(
        da.from_array(X, chunks=(CHUNKS, -1)), da.from_array(y, chunks=(CHUNKS,)), sw
    )
    recipes = source.parts(RowSpec(np.array([0, 1]), False))
    if workers is None:
        return _rows(client, recipes, True)
    futures = [client.compute(r, workers=workers) for r in recipes]
    client.gather(futures)
    return futures


def _one_task_per_partition(client, parts, theta, fused, need_grad):
    """The pass as one task per partition and one per addition of the tree."""
    from backprop_lab.distributed.partials import partition_sums, tree_sum

    leaves = [
        client.submit(partition_sums, p, theta, fused, 0, need_grad, pure=False) for p in parts
    ]
    return tree_sum(leaves, lambda a, b: client.submit(np.add, a, b, pure=False)).result()


@pytest.mark.parametrize("placement", ["dealt", "one worker"])
def test_grouped_pass_has_the_bits_of_one_task_per_partition(dask_client, problem, placement):
    from backprop_lab.distributed.objective import Objective

    _, _, _, fused, theta = problem
    workers = sorted(dask_client.scheduler_info()["workers"])
    parts = _parts(dask_client, problem, None if placement == "dealt" else workers[:1])
    objective = Objective(dask_client, parts, fused, 0, 0.0)
    threads = sum(w["nthreads"] for w in dask_client.scheduler_info()["workers"].values())
    for need_grad in (True, False):
        grouped = objective.sums(theta, need_grad)
        reference = _one_task_per_partition(dask_client, parts, theta, fused, need_grad)
        assert np.array_equal(grouped, reference)
    assert grouped[-1] == pytest.approx(problem[2].sum(), rel=1e-12)  # sum w: every row once
    # one task per worker thread that holds partitions, not 2P - 1 = 15
    held = 1 if placement == "one worker" else threads
    assert objective.tasks == 2 * held


def test_thread_groups_cover_every_partition_once_per_thread():
    from backprop_lab.distributed.objective import thread_groups

    holders = [["b"], ["a"], ["a", "b"], [], ["a"], ["b"], ["a"]]
    nbytes = [10, 50, 20, 5, 30, 10, 40]
    groups = thread_groups(holders, {"a": 2, "b": 1}, nbytes)
    # in index order to the lighter holder: 0 -> b (10), 1 -> a (50), 2 (held by both) ->
    # b (30), 3 lost: alone, 4 -> a (80), 5 -> b (40), 6 -> a; a's 1, 4, 6 dealt largest
    # first to the lighter of its 2 threads: 1 (50) -> t0, 6 (40) -> t1, 4 (30) -> t1;
    # b's 0, 2, 5 in its one thread
    assert groups == [[3], [1], [4, 6], [0, 2, 5]]
    assert sorted(p for g in groups for p in g) == list(range(len(holders)))
    assert thread_groups(holders, {"a": 2, "b": 1}, nbytes) == groups  # deterministic
