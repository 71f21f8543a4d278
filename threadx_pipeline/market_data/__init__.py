"""Market data domain: raw 1-minute candles and every derived timeframe."""
