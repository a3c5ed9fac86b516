"""How many CPUs this process may really use: the default of thread_count."""

from __future__ import annotations

import math
import os
from pathlib import Path


def available_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may use: those it is pinned to, bounded by its cgroup's CPU quota (a container's CPU
    limit, which os.cpu_count() ignores: a pod limited to 2 CPUs on a 64-core node must not build with 64 threads)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota(cgroup)
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def _cgroup_quota(cgroup: Path) -> float | None:
    """CPUs allowed by the CPU quota (cgroup v2 cpu.max, or v1 cfs_quota_us/cfs_period_us); None when unlimited."""
    try:
        fields = (cgroup / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max":
            return int(fields[0]) / int(fields[1])
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None
