"""Declarative automation: new candles bring everything downstream up to date.

``raw_1m`` has no condition: the ``daily_top_up`` schedule (or a person, or a backfill) decides
when candles are fetched. Every other asset follows its inputs:

- a symbol × month asset is requested when an input month of it updated in a run that did not
  also target it (Dagster's ``any_deps_updated`` ignores updates made by a run that plans the
  asset itself), so the top-up, which runs the whole month graph in one run, requests nothing a
  second time, while ``raw_1m`` materialised alone (UI, ``dagster asset materialize``) brings its
  months' derived assets up to date;
- a per-symbol report is requested once per symbol when any month of its sweeps updated, after
  no month of that symbol is in progress any more (a range of months, a top-up of two months on
  the 1st: one request after them all, never one per month);
- the ``leaderboard`` (every symbol side by side) is requested once when any symbol's report
  updated, after no report is in progress any more.

Requests of several partitions in one tick are submitted as one backfill (``emit_backfills``),
which the single-run backfill policy turns into one run per symbol per layer, not a run per
partition.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from threadx_core.settings import Automation

SENSOR = "threadx_automation"


def follow_months() -> dg.AutomationCondition:
    """The condition of a derived symbol × month asset: an input month updated (by a run that did
    not target the asset) or is requested on this tick, since the asset was last requested or
    materialised, no input missing, nothing upstream or of the asset in progress. Unlike
    ``eager()`` it reacts in every month, not only the latest (a backfill of old ``raw_1m`` months
    is followed too), and never to a partition that merely appears (the first of a month is the
    top-up's). The previous month a month continues (indicator warm-ups, carried positions) is read
    by the asset's body, not declared, so it brings nothing here: a month is brought up to date by
    its own inputs (docs/ARCHITECTURE.md, Asset graph)."""
    return (dg.AutomationCondition.any_deps_updated().since_last_handled()
            & ~dg.AutomationCondition.any_deps_missing()
            & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress()).with_label("follow_months")


def follow_symbol() -> dg.AutomationCondition:
    """The condition of a per-symbol report: a month of the symbol's sweeps updated, or is
    requested on this tick, since the report was last requested or materialised; waits while a
    month of the symbol (or the report) is in progress. Months never stored are not waited for:
    a report reads the stored months only."""
    return _updated_then_quiet("follow_symbol")


def follow_reports() -> dg.AutomationCondition:
    """The condition of the ``leaderboard``: a symbol's ``walk_forward`` or ``full_period`` updated
    since the leaderboard was last requested or materialised; waits while any report (of any
    symbol) or the leaderboard is in progress, so the reports of several symbols refreshed by one
    backfill request it once, after the last of them."""
    return _updated_then_quiet("follow_reports")


def _updated_then_quiet(label: str) -> dg.AutomationCondition:
    """An input updated since the asset was last requested or materialised, and neither an input
    nor the asset in progress (one request after a burst of updates, not one per update)."""
    return (dg.AutomationCondition.any_deps_updated().since_last_handled()
            & ~dg.AutomationCondition.any_deps_in_progress()
            & ~dg.AutomationCondition.in_progress()).with_label(label)


def automate(asset: dg.AssetsDefinition,
             condition: Callable[[], dg.AutomationCondition]) -> dg.AssetsDefinition:
    """``asset`` with ``condition()`` on every asset key it defines."""
    return asset.map_asset_specs(lambda spec: spec.replace_attributes(automation_condition=condition()))


def build_sensor(settings: Automation) -> dg.AutomationConditionSensorDefinition:
    """The sensor evaluating every asset's condition every ``[automation] interval_s`` seconds, on
    by default like the schedule."""
    return dg.AutomationConditionSensorDefinition(
        SENSOR, target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.interval_s,
        description=("derived months follow their inputs; per-symbol reports follow their symbol's months; "
                     "the leaderboard follows the reports"))
