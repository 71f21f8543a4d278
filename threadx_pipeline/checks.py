"""Asset check results of a step that may hold several partitions.

An ``AssetCheckResult`` carries no partition, so a step reports each check once: it passes when
every partition of the step passes; otherwise its description names the failing partitions and
leads with the first failure's own description, and its metadata lists them
(``failing_partitions``) with the first failure's metadata. A single-partition step reports that
partition's outcome unchanged.
"""

from collections.abc import Mapping

import dagster as dg

from threadx_core.data.quality import CheckOutcome


def check_result(name: str, asset: str, outcomes: Mapping[str, CheckOutcome],
                 severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    """The result of check ``name`` on ``asset`` from its outcome per partition (label, such as
    ``"BTCUSDT 2024-02"`` → outcome), in the step's order."""
    if len(outcomes) == 1:
        (outcome,) = outcomes.values()
        return dg.AssetCheckResult(check_name=name, asset_key=asset, passed=outcome.passed,
                                   severity=severity, description=outcome.description,
                                   metadata=outcome.metadata)
    failing = [label for label, outcome in outcomes.items() if not outcome.passed]
    if not failing:
        return dg.AssetCheckResult(check_name=name, asset_key=asset, passed=True, severity=severity,
                                   description=f"all {len(outcomes)} partitions pass",
                                   metadata={"partitions": len(outcomes)})
    first = outcomes[failing[0]]
    return dg.AssetCheckResult(
        check_name=name, asset_key=asset, passed=False, severity=severity,
        description=f"{len(failing)} of {len(outcomes)} partitions fail ({', '.join(failing)}); "
                    f"{failing[0]}: {first.description}",
        metadata={**first.metadata, "partitions": len(outcomes), "failing_partitions": failing})
