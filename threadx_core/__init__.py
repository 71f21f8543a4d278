"""ThreadX core: the numerics of ThreadX Pipeline, usable from a notebook (never imports dagster).

Public API (DESIGN.md §13): ``from threadx_core import data, indicators, engine, metrics, sweep``.
"""
