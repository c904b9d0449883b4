"""What the benchmark machine's CPU offers, named in `rag bench` reports: encoder speeds depend on it more than on
anything in this project (bf16 runs natively only with AVX512-BF16 or AMX; int8 matrix products use VNNI)."""

from __future__ import annotations

import platform
from pathlib import Path

# the instruction sets that decide which encoder backend is fastest, as /proc/cpuinfo's flags name them
FEATURES = {
    "AVX2": ("avx2",),
    "AVX-512": ("avx512f",),
    "VNNI": ("avx512_vnni", "avx_vnni"),
    "BF16": ("avx512_bf16", "amx_bf16"),
    "AMX": ("amx_tile",),
}


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name (Linux), else what the platform says."""
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_features(cpuinfo: str | None = None) -> list[str]:
    """Which of `FEATURES` the CPU has (empty where /proc/cpuinfo is not readable)."""
    flags: set[str] = set()
    for line in (_cpuinfo() if cpuinfo is None else cpuinfo).splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return [name for name, names in FEATURES.items() if flags.intersection(names)]


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
