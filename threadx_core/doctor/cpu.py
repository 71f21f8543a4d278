"""Numba on the CPU: the sweep kernel runs (the tiny sweep of
:mod:`threadx_core.doctor.sweep_probe`), the threading layer Numba picked for it, its threads
and the cores this process may use."""

from __future__ import annotations

import os

from threadx_core.doctor import sweep_probe
from threadx_core.doctor.report import Check

NAME = "numba threading"


def check_numba() -> Check:
    """Error when the CPU sweep kernel fails; else the threading layer, threads and cores."""
    import numba

    try:
        out = sweep_probe.on_cpu()
    except Exception as exc:  # whatever breaks the kernel (a Numba or LLVM install) is the finding
        return Check.error(NAME, f"the CPU sweep kernel failed on the tiny sweep "
                                 f"({type(exc).__name__}: {exc})")
    # the layer is chosen when the first parallel kernel runs: only known after the sweep above
    layer = numba.threading_layer()
    usable = len(os.sched_getaffinity(0))
    return Check.ok(NAME, f"{numba.__version__}, threading layer {layer}, {numba.get_num_threads()} "
                    f"thread(s) on {usable} usable core(s) of {os.cpu_count()}; CPU kernel ran "
                    f"{len(out.results)} combinations")
