"""What the benchmarks measure, measured one way everywhere: latency percentiles, peak memory, size on disk."""

from __future__ import annotations

import math
import resource
import statistics
from collections.abc import Sequence
from pathlib import Path

from retrievers.stores import folder_bytes


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 and the mean of a list of milliseconds (nearest-rank percentiles)."""
    ordered = sorted(ms)

    def rank(p: float) -> float:
        return ordered[min(len(ordered), max(1, math.ceil(p / 100 * len(ordered)))) - 1]

    return {
        "p50": round(rank(50), 2),
        "p95": round(rank(95), 2),
        "p99": round(rank(99), 2),
        "mean": round(statistics.fmean(ordered), 2),
        "n": len(ordered),
    }


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def folder_mb(path: Path) -> float:
    """The size of the files under `path` in MB (links not followed)."""
    return round(folder_bytes(Path(path)) / 2**20, 1)
