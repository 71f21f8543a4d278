"""Launch a backfill as the UI does (GraphQL ``launchPartitionBackfill`` with an asset selection
and partition names) against the ``threadx`` code location of ``$THREADX_CONFIG``; print the
mutation's answer and the stored target (asset → sorted partition keys) as JSON.

Run as a script, in a process of its own, so that its ``PYTHONHASHSEED`` is the webserver's."""

from __future__ import annotations

import json
import sys

import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from threadx_pipeline.partitions import key, register_symbols

LAUNCH = """
mutation Launch($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""


def main(project: str, symbols: list[str], months: list[str]) -> None:
    with dg.instance_for_test() as instance:
        register_symbols(instance, symbols)
        target = ModuleTarget(module_name="threadx_pipeline.definitions", attribute="defs",
                              working_directory=project, location_name="threadx")
        with WorkspaceProcessContext(instance, target) as workspace:
            context = workspace.create_request_context()
            graph = context.asset_graph
            selection = [k for k in graph.materializable_asset_keys
                         if isinstance(graph.get(k).partitions_def, dg.MultiPartitionsDefinition)]
            answer = execute_dagster_graphql(context, LAUNCH, variables={"backfillParams": {
                "assetSelection": [{"path": k.path} for k in selection],
                "partitionNames": [str(key(s, m)) for s in symbols for m in months]}})
        launched = answer.data["launchPartitionBackfill"]
        stored = {}
        if launched["__typename"] == "LaunchBackfillSuccess":
            subset = instance.get_backfill(launched["backfillId"]).asset_backfill_data.target_subset
            stored = {k.to_user_string(): sorted(map(str, keys.get_partition_keys()))
                      for k in subset.asset_keys for keys in [subset.get_partitions_subset(k)]}
    print(json.dumps({"answer": launched, "target": stored}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(","))
