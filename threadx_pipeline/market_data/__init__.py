"""Market data domain: raw 1-minute candles and every derived timeframe."""

GROUP = "market_data"
OWNERS = ["team:market-data"]
