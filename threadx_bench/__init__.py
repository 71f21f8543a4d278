"""Benchmarks of ThreadX's numerics, run by ``threadx bench …``; figures go to docs/BENCHMARKS.md."""
