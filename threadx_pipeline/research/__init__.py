"""Research domain: indicator caches, featured backtests (and, later, sweeps and selections)."""
