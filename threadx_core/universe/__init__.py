"""The symbol universe (docs/GUIDE.md, The symbol universe): which Binance symbols to research.

One module per concept: :mod:`.coingecko` (the paged ``/coins/markets`` client), :mod:`.categories`
(the versioned category table, ``categories.toml``), :mod:`.exclusions` (stablecoins, wrapped,
staked, leveraged), :mod:`.ranking` (candidates, score, cut, category minimums), :mod:`.build`
(the three answers fetched and turned into a universe) and :mod:`.store` (one atomic folder per
universe in the warehouse, raw answers included). Binance's market lists are fetched by
``threadx_core.data.binance.markets``.
"""
