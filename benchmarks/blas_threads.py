"""Time the reference engine's narrow products with one and with two BLAS threads.

    python benchmarks/blas_threads.py [N]

x @ W, x.T @ g and g @ W.T for a 7-8-1 network's first layer (x: N x 7, W: 7 x 8,
g: N x 8; N = 100,000 by default), float64 and float32, 40 calls each, the thread
settings interleaved. Prints the median and fastest call in milliseconds and the load
average, since what a second thread costs depends on how busy the machine is
(engine/reference.py runs these products on one thread).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from threadpoolctl import ThreadpoolController


def main(n: int = 100_000, calls: int = 40) -> None:
    controller = ThreadpoolController()
    print(f"N = {n:,}; load average at start {os.getloadavg()}")
    for dtype in (np.float64, np.float32):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, 7)).astype(dtype)
        W = rng.standard_normal((7, 8)).astype(dtype)
        g = rng.standard_normal((n, 8)).astype(dtype)
        products = {
            "x @ W": (np.matmul, x, W),
            "x.T @ g": (np.matmul, x.T, g),
            "g @ W.T": (np.matmul, g, W.T),
        }
        times: dict[tuple[str, int], list[float]] = {}
        for round_ in range(4):
            for threads in (1, 2) if round_ % 2 == 0 else (2, 1):
                with controller.limit(limits=threads, user_api="blas"):
                    for name, (product, a, b) in products.items():
                        product(a, b)
                        for _ in range(calls // 4):
                            start = time.perf_counter()
                            product(a, b)
                            times.setdefault((name, threads), []).append(
                                time.perf_counter() - start
                            )
        for name in products:
            cells = [
                f"{threads} thread{'s' if threads > 1 else ''}: median "
                f"{np.median(times[name, threads]) * 1e3:.3f} ms, fastest "
                f"{min(times[name, threads]) * 1e3:.3f} ms"
                for threads in (1, 2)
            ]
            print(f"{np.dtype(dtype).name:<8} {name:<8} " + "; ".join(cells))
    print(f"load average at end {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
