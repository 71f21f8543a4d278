"""Market data: sources of canonical 1-minute candles and their resampling."""
