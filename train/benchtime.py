"""The timing loop the train/bench_*.py scripts share."""

from __future__ import annotations

import time


def per_row(fn, n_rows: int, repeats: int) -> tuple[list[float], list[float]]:
    """Run fn `repeats` times; (wall ns/row, process CPU ns/row) of each run.

    CPU time is the process's (user + system), which other processes on a shared
    machine do not inflate the way they inflate wall time.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        fn()
        t1, c1 = time.perf_counter_ns(), time.process_time_ns()
        wall.append((t1 - t0) / n_rows)
        cpu.append((c1 - c0) / n_rows)
    return wall, cpu
