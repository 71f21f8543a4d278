"""Dagster concurrency pools of what the runs contend for (docs/OPERATIONS.md, Pools).

A pool caps how many steps, across every run of the instance, hold it at once; a step of a pool
waits for a free slot (the run log says "Step blocked by limit for pool …"). The limits are the
instance's (``dagster.yaml`` ``concurrency.pools.default_limit``, or one pool's limit set with
``dagster instance concurrency set POOL N``), not the code's: they depend on the machine.

- ``binance``: ``raw_1m`` when its source is Binance (``binance`` or ``binance_vision``; the
  synthetic source fetches nothing, and a pool would only make its steps wait: 6 s of a 45 s
  backfill, docs/BENCHMARKS.md). One IP has one request weight budget and one ban; the Binance
  client shares both across processes (``threadx_core.data.binance.ip_state``), and the pool
  keeps the fetching steps from racing for them: with one slot, a run that meets a 418 records
  the ban before the next run's step starts, so that step sends nothing.
- ``cpu``: the sweeps on the CPU (one sweep already uses every core through Numba's threads).
- ``gpu``: the sweeps on CUDA (one slot per GPU; a ``multi-gpu`` sweep takes every GPU in one).
"""

from __future__ import annotations

from threadx_core.sweep.devices import available_gpus

BINANCE = "binance"
CPU = "cpu"
GPU = "gpu"


def raw_pool(source_kind: str) -> str | None:
    """The pool of ``raw_1m`` under ``[source] kind``: ``binance`` for a Binance source, none for
    the synthetic one."""
    return None if source_kind == "synthetic" else BINANCE


def sweep_pool(device_mode: str) -> str:
    """The pool of a sweep under ``[device] mode``: ``gpu`` for ``gpu`` and ``multi-gpu``, and for
    ``auto`` when a CUDA GPU is usable here (what ``auto`` will pick); ``cpu`` otherwise."""
    if device_mode in ("gpu", "multi-gpu"):
        return GPU
    if device_mode == "auto" and available_gpus():
        return GPU
    return CPU
