"""Partitions: symbol (dynamic, registered from settings) × calendar month (UTC)."""

from __future__ import annotations

import warnings

import dagster as dg
import sqlalchemy.exc
from dagster._core.storage.tags import BACKFILL_ID_TAG

from threadx_core import times
from threadx_core.settings import Settings
from threadx_core.symbols import check_symbol

SYMBOLS = dg.DynamicPartitionsDefinition(name="symbols")
MONTH_FORMAT = "%Y-%m"


def symbol_month(settings: Settings) -> dg.MultiPartitionsDefinition:
    """``symbol`` × ``month`` from ``[universe] start_month`` through the current month.

    Month keys are ``YYYY-MM``; the current, unfinished month is a partition like the others.
    """
    month_dim = dg.MonthlyPartitionsDefinition(
        start_date=times.month_label(times.parse_month(settings.universe.start_month)),
        fmt=MONTH_FORMAT, timezone="UTC", end_offset=1)
    return dg.MultiPartitionsDefinition({"symbol": SYMBOLS, "month": month_dim})


#: Every symbol × month asset: a backfill over a range runs as one run per symbol (per month when
#: the range has no more months than symbols), whose steps loop over the range in calendar order.
SINGLE_RUN = dg.BackfillPolicy.single_run()
#: ``best_by_run``'s: the same runs (one range per run: no backfill range comes near the limit),
#: but a policy other than its inputs', so Dagster runs it in the backfill's second layer, beside
#: the per-symbol reports, rather than at the end of the month graph's runs. The backfill daemon
#: starts a layer only on its fixed 30 s tick: with the selection's charts moved there, each of the
#: two layers fits in one tick on a small machine (docs/ARCHITECTURE.md, Asset graph).
AFTER_SWEEPS = dg.BackfillPolicy.multi_run(max_partitions_per_run=100_000)
# A job over every month asset (the top-up's) mixes the two; Dagster then gives the job's own
# backfills AFTER_SWEEPS, whose runs are SINGLE_RUN's, and warns at every code load: said here once.
warnings.filterwarnings("ignore", message="Asset job .* materializes assets with varying BackfillPolicies",
                        category=UserWarning)
# the policy is "beta" as an asset parameter; tested through Dagster here (tests/pipeline)
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


def month_range(settings: Settings, first: str | None, last: str | None) -> list[str]:
    """The month partitions ``first``..``last`` (default: ``[universe] start_month`` .. the
    current UTC month), checked before anything is submitted: each must be a ``YYYY-MM`` month
    between ``start_month`` and the current month (a later month has no candles and no partition),
    and ``first`` must not follow ``last``. Raises ``ValueError`` saying which bound is wrong."""
    start = times.month_label(times.parse_month(settings.universe.start_month))
    current = times.month_label(times.now())
    bounds = {}
    for flag, given in (("--from", first or start), ("--to", last or current)):
        month = bounds[flag] = times.month_label(times.parse_month(given))
        if month < start:
            raise ValueError(f"{flag} {month} precedes [universe] start_month {start}: partitions run "
                             f"from {start} to {current}")
        if month > current:
            raise ValueError(f"{flag} {month} is after the current month {current}: it has no candles "
                             f"yet and no partition (partitions run from {start} to {current})")
    return times.month_span(bounds["--from"], bounds["--to"])


def every_month_of(assets: list[str]) -> dict[str, dg.AssetIn]:
    """Inputs of a per-symbol asset: every stored month of each symbol × month asset of
    ``assets`` (same symbol), handed over as a dict month → frame (``threadx/by_month``)."""
    with warnings.catch_warnings():  # the mapping is "beta"; tested through Dagster
        warnings.simplefilter("ignore", dg.BetaWarning)
        mapping = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="symbol")
    return {name: dg.AssetIn(name, partition_mapping=mapping, metadata={"threadx/by_month": True})
            for name in assets}


def key(symbol: str, month: str) -> dg.MultiPartitionKey:
    """The partition key of ``symbol`` × ``month`` (``YYYY-MM``)."""
    return dg.MultiPartitionKey({"symbol": symbol, "month": month})


def split(partition_key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """``(symbol, month)`` of a partition key."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        dims = partition_key.keys_by_dimension
        return dims["symbol"], dims["month"]
    # Dagster joins dimension keys with "|" in the alphabetical order of the dimension names.
    month, symbol = partition_key.split("|")
    return symbol, month


def step_keys(context: dg.AssetExecutionContext) -> list[tuple[str, str, str]]:
    """``(partition key, symbol, month)`` of every partition the step materialises (one in a
    single-partition run, a whole range in a backfill's run), symbol by symbol in calendar order:
    the order a month's warm-up needs (its previous month first)."""
    return sorted(((str(k), *split(k)) for k in context.partition_keys), key=lambda t: (t[1], t[2]))


def first_months(context: dg.AssetExecutionContext) -> dict[str, str]:
    """Symbol → the first month of it that the step materialises."""
    first: dict[str, str] = {}
    for _, symbol, month in step_keys(context):
        first.setdefault(symbol, month)
    return first


def earlier_in_backfill(context: dg.AssetExecutionContext,
                        assets: list[dg.AssetKey]) -> dict[dg.AssetKey, list[tuple[str, str]]]:
    """Per asset of ``assets``: ``(symbol, month)`` of each month that the run's backfill targets
    for it and this step's symbols before the step's first month of that symbol, in calendar order;
    empty outside a backfill (one read of the backfill for them all). A backfill whose range has no
    more months than symbols runs each month as a run of its own, all at once
    (docs/ARCHITECTURE.md, Asset graph): such a month's run cannot count on the earlier months'
    runs having stored them."""
    backfill_id = context.run.tags.get(BACKFILL_ID_TAG)
    backfill = context.instance.get_backfill(backfill_id) if backfill_id else None
    data = backfill.asset_backfill_data if backfill is not None else None
    targeted = data.target_subset.partitions_subsets_by_asset_key if data else {}
    first = first_months(context)

    def before_the_step(asset: dg.AssetKey) -> list[tuple[str, str]]:
        keys = targeted[asset].get_partition_keys() if asset in targeted else []
        return sorted((symbol, month) for symbol, month in map(split, keys)
                      if symbol in first and month < first[symbol])

    return {asset: before_the_step(asset) for asset in assets}


#: Check-then-add rounds of :func:`register_symbols` before it gives up (each lost round means
#: another process added some of the symbols, so the next round has fewer to add).
REGISTER_ATTEMPTS = 5


def register_symbols(instance: dg.DagsterInstance, symbols: tuple[str, ...] | list[str]) -> list[str]:
    """Add the ``symbols`` not yet registered as partitions; returns those this call added (a
    symbol another process adds at the same moment is not among them, and is no error). Every
    symbol is checked first (:func:`threadx_core.symbols.check_symbol`): a hostile key such as
    ``../x`` never becomes a partition."""
    for symbol in symbols:
        check_symbol(symbol)
    missing = [s for s in symbols if not instance.has_dynamic_partition(SYMBOLS.name, s)]
    for _ in range(REGISTER_ATTEMPTS):
        try:
            if missing:
                instance.add_dynamic_partitions(SYMBOLS.name, missing)
            return missing
        except sqlalchemy.exc.IntegrityError:
            # another process (a concurrent command, the sensor) added some of them between the
            # check and the insert, and the whole insert was rolled back: add what is still missing
            missing = [s for s in missing if not instance.has_dynamic_partition(SYMBOLS.name, s)]
    raise RuntimeError(f"could not register symbol partition(s) {missing}: added concurrently "
                       f"{REGISTER_ATTEMPTS} times yet still missing")
