"""A description of the machine a benchmark ran on, for docs/BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> dict[str, str | int]:
    """CPU model, logical cores, memory (GiB) and Python/OS versions of this machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                  if line.startswith("model name")]
        cpu = models[0] if models else cpu
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 2**20:.0f} GiB"
    return {"cpu": cpu, "cores": os.cpu_count() or 0, "memory": memory,
            "python": platform.python_version(), "os": platform.platform(terse=True)}
