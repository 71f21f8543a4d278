"""Research domain: indicator caches, sweeps, selections, featured backtests and per-symbol reports."""

GROUP = "research"
OWNERS = ["team:research"]
