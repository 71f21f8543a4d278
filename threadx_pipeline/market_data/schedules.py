"""Keeping market data current: a daily top-up schedule and symbol registration."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from threadx_core import times
from threadx_core.settings import Settings
from threadx_core.symbols import SymbolError, check_symbol
from threadx_core.universe.build import current_symbols
from threadx_pipeline.partitions import SYMBOLS, key


def months_to_top_up(now: pd.Timestamp, start_month: str) -> list[str]:
    """The current month, and on the first day of a month also the previous one (so its last
    hours are fetched and it becomes complete); never before ``start_month``."""
    current = times.month_label(now)
    wanted = [times.previous_month(current), current] if now.day == 1 else [current]
    return [m for m in wanted if times.parse_month(m) >= times.parse_month(start_month)]


def build_daily_top_up(job: dg.UnresolvedAssetJobDefinition, settings: Settings) -> dg.ScheduleDefinition:
    """Every day at 00:15 UTC: top up the current month of every registered symbol, the derived
    timeframes (and anything else in ``job``) following in the same run. With ``[universe] mode =
    "universe"`` only the registered symbols that are members of the newest stored universe are
    topped up (a symbol that left it keeps its partition and months, and is no longer fetched);
    before any universe is stored the tick is skipped. A registered symbol that
    is not a valid symbol (:func:`threadx_core.symbols.check_symbol`: one added around
    ``register_symbols``, by the UI's *Add partition* or GraphQL) is left out with a warning in the
    tick's log naming it, so one bad key never fails or delays the top-up of the good ones."""

    @dg.schedule(name="daily_top_up", job=job, cron_schedule="15 0 * * *", execution_timezone="UTC",
                 default_status=dg.DefaultScheduleStatus.RUNNING)
    def daily_top_up(context: dg.ScheduleEvaluationContext):
        now = pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC")
        symbols, refused = [], []
        registered = context.instance.get_dynamic_partitions(SYMBOLS.name)
        if settings.universe.mode == "universe":
            members = current_symbols(settings)
            if members is None:
                return dg.SkipReason("[universe] mode = \"universe\" but no universe is stored yet: "
                                     "materialise the universe asset (threadx universe)")
            registered = [s for s in registered if s in set(members)]
        for symbol in registered:
            try:
                symbols.append(check_symbol(symbol))
            except SymbolError as exc:
                refused.append(symbol)
                context.log.warning(f"daily_top_up: registered symbol partition left out: {exc}; delete "
                                    "it (docs/OPERATIONS.md, A hostile or malformed key)")
        if refused and not symbols:
            return dg.SkipReason(f"no valid symbol registered: {refused} left out (not Binance spot symbols)")
        if not symbols:
            return dg.SkipReason("no symbol registered yet (the register_symbols sensor adds them)")
        return [dg.RunRequest(run_key=f"{symbol}|{month}|{now:%Y-%m-%d}", partition_key=key(symbol, month))
                for month in months_to_top_up(now, settings.universe.start_month) for symbol in symbols]

    return daily_top_up


def build_register_symbols(settings: Settings) -> dg.SensorDefinition:
    """Registers every ``[universe] symbols`` entry as a ``symbols`` partition; with ``[universe]
    mode = "universe"`` it registers nothing (the ``universe`` asset registers its members)."""

    @dg.sensor(name="register_symbols", minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING)
    def register_symbols(context: dg.SensorEvaluationContext):
        if settings.universe.mode == "universe":
            return dg.SkipReason("[universe] mode = \"universe\": the universe asset registers its members")
        missing = [s for s in settings.universe.symbols
                   if not context.instance.has_dynamic_partition(SYMBOLS.name, s)]
        if not missing:
            return dg.SkipReason("every configured symbol is registered")
        return dg.SensorResult(dynamic_partitions_requests=[SYMBOLS.build_add_request(missing)])

    return register_symbols
