"""``threadx doctor``'s checks of this machine (docs/GUIDE.md, Checking the environment), without
Dagster: the pipeline adds the Dagster instance's check (``threadx_pipeline/doctor.py``).

Each check is a small function returning a :class:`~threadx_core.doctor.report.Check` (name,
status ok | warning | error, one-line detail); :func:`core_checks` runs them all in report
order: requirements, Numba, GPU stack, warehouse, Binance.
"""

from __future__ import annotations

from threadx_core.doctor.binance import binance_checks
from threadx_core.doctor.cpu import check_numba
from threadx_core.doctor.gpu import Probe, gpu_checks, probe_cuda
from threadx_core.doctor.report import Check, Status, exit_code, table, to_json
from threadx_core.doctor.requirements import Requirements, project_requirements, requirement_checks
from threadx_core.doctor.warehouse import warehouse_checks
from threadx_core.settings import Settings

__all__ = ["Check", "Status", "core_checks", "exit_code", "table", "to_json"]


def core_checks(settings: Settings, *, requirements: Requirements | None = None,
                cuda: Probe = probe_cuda) -> list[Check]:
    """Every check of this machine for ``settings``: ``requirements`` (default: the project's),
    Numba, the GPU stack found by ``cuda``, the warehouse root, the Binance REST URL."""
    b = settings.binance
    return [*requirement_checks(requirements or project_requirements()),
            check_numba(),
            *gpu_checks(settings.device.mode, cuda),
            *warehouse_checks(settings.warehouse.root),
            *binance_checks(b.rest_url, timeout_s=b.timeout_s, state_dir=settings.binance_state_dir())]
