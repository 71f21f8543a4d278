"""Dagster resources: the settings file, the market-data source and the device manager.

Resource config must be serialisable, so the settings travel as the path of ``threadx.toml``;
:class:`SettingsResource` turns it into the ``Settings`` that this process loaded when the code
location loaded (parsed and validated once, see ``threadx_pipeline.config``), and every other
resource is built on it (the warehouse's in ``threadx_pipeline.warehouse``).
"""

import time
from collections.abc import Callable

import dagster as dg
import pandas as pd

from threadx_core import settings
from threadx_core.data import sources
from threadx_core.sweep import Grid
from threadx_core.sweep.run import SweepOutput, run_with_daily
from threadx_pipeline.config import loaded_settings


class SettingsResource(dg.ConfigurableResource):
    """The validated ``threadx.toml`` at ``path``, as the code location loaded it."""

    path: str

    def get(self) -> settings.Settings:
        return loaded_settings(self.path)


class MarketDataResource(dg.ConfigurableResource):
    """The 1-minute candle source named in the settings (``[source] kind``).

    ``frozen_now`` pins the clock (an ISO UTC time) so that tests and reproducible runs decide
    the same "current month" and "still-open candle" whatever the wall clock says.
    """

    settings: SettingsResource
    frozen_now: str | None = None

    def source(self) -> sources.Source:
        return sources.from_settings(self.settings.get())

    def now(self) -> pd.Timestamp:
        if self.frozen_now:
            return pd.Timestamp(self.frozen_now).tz_convert("UTC")
        return pd.Timestamp.now(tz="UTC")


class DeviceManagerResource(dg.ConfigurableResource):
    """Runs sweeps where ``[device]`` says (docs/ARCHITECTURE.md, Sweeps, selection and research):
    ``auto`` (GPU if one works, else CPU), ``cpu``, ``gpu``, ``multi-gpu`` (``gpus`` by index, split
    by ``ratios`` or by measured throughput). A CUDA failure falls back to the CPU with a warning in
    the run log."""

    settings: SettingsResource

    def sweep(self, ohlcv: pd.DataFrame, grid: Grid, indicators: pd.DataFrame,
              log: Callable[[str], None], warn: Callable[[str], None], label: str,
              start: pd.DataFrame | None = None) -> SweepOutput:
        """Sweep ``grid`` over ``ohlcv`` with the cached ``indicators``, every combination from
        its ``start`` state (None: fresh), nothing closed at the end (a month is a window of a
        continuing run: ``threadx_core.sweep.chained``), logging progress (combinations done,
        rate, ETA) about every tenth of the grid."""
        device = self.settings.get().device
        ratios = list(device.ratios) or ("auto" if device.mode == "multi-gpu" else None)
        output = run_with_daily(ohlcv, grid, device.mode, gpu_indices=list(device.gpus) or None,
                                ratios=ratios, indicators=indicators, progress=_progress(log, label),
                                start=start, close_at_end=False)
        if output.warning:
            warn(f"{label}: {output.warning}")
        return output


def _progress(log: Callable[[str], None], label: str) -> Callable[[int, int], None]:
    started, next_report = time.perf_counter(), [0.0]

    def report(done: int, total: int) -> None:
        if done < total and done / total < next_report[0]:
            return
        next_report[0] = done / total + 0.1
        elapsed = time.perf_counter() - started
        rate = done / elapsed if elapsed > 0 else float("inf")
        eta = (total - done) / rate if rate > 0 else float("nan")
        log(f"{label}: {done}/{total} combinations, {rate:,.0f}/s, ETA {eta:.1f} s")

    return report
