"""The research assets of one symbol-month, as the settings shape them."""

import dagster as dg

from threadx_core.settings import Settings
from threadx_pipeline.research.best_by_run import build_best_by_run
from threadx_pipeline.research.featured import build_report
from threadx_pipeline.research.indicators import build_indicators
from threadx_pipeline.research.sweeps import build_sweep


def build(settings: Settings, partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """Per ``[timeframes] sweep`` entry an ``indicators_<tf>`` and a ``sweep_<tf>``; the featured
    report and ``best_by_run``."""
    tfs = settings.timeframes.sweep
    return [*(build_indicators(tf, settings, partitions_def) for tf in tfs),
            *(build_sweep(tf, settings, partitions_def) for tf in tfs),
            build_report(settings, partitions_def), build_best_by_run(settings, partitions_def)]
