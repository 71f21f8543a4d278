"""The test kit: a fault-injecting Binance server on loopback and the candle helpers that the
tests and ``threadx bench`` share. Never used by the pipeline itself."""
