"""A process that opens instances as ``threadx`` does, for tests/pipeline/test_concurrency.py.

It imports everything first and prints ``ready``; then, for each line read from stdin (a fresh
``DAGSTER_HOME``), opens that home's instance through :func:`threadx_pipeline.instance.open_instance`
and prints ``opened``, waits for one more line, registers ``BTCUSDT`` and ``ETHUSDT`` and prints
``ok <home>`` — so that the test can release many processes at once onto the same fresh home, then
onto the same registration. A failure prints its traceback and exits 1.
"""

import os
import sys
from pathlib import Path

from threadx_pipeline.instance import open_instance
from threadx_pipeline.partitions import register_symbols

print("ready", flush=True)
for line in sys.stdin:
    home = Path(line.strip())
    os.environ["DAGSTER_HOME"] = str(home)
    with open_instance(home) as instance:
        print("opened", flush=True)
        sys.stdin.readline()
        register_symbols(instance, ["BTCUSDT", "ETHUSDT"])
        instance.get_runs(limit=1)
    print(f"ok {home}", flush=True)
