"""ThreadX core: the numerics of ThreadX Pipeline, usable from a notebook (never imports dagster).

Public API (docs/ARCHITECTURE.md, The Python API): ``from threadx_core import data, indicators, engine,
metrics, sweep``.
"""
