"""A small crypto market as CoinGecko and Binance describe it, shared by the universe tests.

31 CoinGecko coins by market cap, with the traps the rules must handle: a listed stablecoin
(USDC) and one caught by name and peg (FUSD), wrapped (WBTC), staked (STETH) and leveraged
(BTCUP) tokens, a ticker collision (a second "ETH"), JUP (ends in UP, not leveraged), and coins
with no USDT pair on Binance (XMR, CRO, USDT itself).
"""

from threadx_core.testing.fake_binance import Market
from threadx_core.testing.fake_coingecko import coin

#: (CoinGecko id, ticker, name, USD price); the rank is the position, from 1.
COINS = [("bitcoin", "BTC", "Bitcoin", 60000.0), ("ethereum", "ETH", "Ethereum", 3000.0),
         ("tether", "USDT", "Tether", 1.0), ("binancecoin", "BNB", "BNB", 500.0),
         ("solana", "SOL", "Solana", 150.0), ("usd-coin", "USDC", "USDC", 1.0),
         ("ripple", "XRP", "XRP", 0.6), ("staked-ether", "STETH", "Lido Staked Ether", 3000.0),
         ("dogecoin", "DOGE", "Dogecoin", 0.15), ("wrapped-bitcoin", "WBTC", "Wrapped Bitcoin", 60000.0),
         ("cardano", "ADA", "Cardano", 0.5), ("fancy-dollar", "FUSD", "Fancy Dollar", 0.999),
         ("chainlink", "LINK", "Chainlink", 15.0), ("avalanche-2", "AVAX", "Avalanche", 35.0),
         ("shiba-inu", "SHIB", "Shiba Inu", 0.00002), ("ethereum-copy", "ETH", "Ethereum Copy", 0.01),
         ("uniswap", "UNI", "Uniswap", 8.0), ("monero", "XMR", "Monero", 150.0),
         ("pepe", "PEPE", "Pepe", 0.00001), ("aave", "AAVE", "Aave", 90.0),
         ("jupiter", "JUP", "Jupiter", 1.1), ("btcup", "BTCUP", "BTCUP", 4.0),
         ("zcash", "ZEC", "Zcash", 25.0), ("compound", "COMP", "Compound", 50.0),
         ("render", "RENDER", "Render", 7.0), ("fetch-ai", "FET", "Fetch.ai", 1.5),
         ("the-sandbox", "SAND", "The Sandbox", 0.4), ("arbitrum", "ARB", "Arbitrum", 0.9),
         ("optimism", "OP", "Optimism", 1.8), ("polygon", "POL", "POL (ex-MATIC)", 0.5),
         ("cronos", "CRO", "Cronos", 0.1)]
#: Tickers without a USDT pair on Binance.
NO_PAIR = {"USDT", "XMR", "CRO"}


def coins() -> list[dict]:
    """The CoinGecko ``/coins/markets`` entries, best market cap first."""
    return [coin(cid, ticker, name, rank, price=price)
            for rank, (cid, ticker, name, price) in enumerate(COINS, 1)]


def markets(quote: str = "USDT") -> dict[str, Market]:
    """Binance's spot symbols against ``quote``: every coin with a pair, all TRADING, quote
    volumes falling with the market-cap rank (DOGE and PEPE trade far more than their rank)."""
    out = {}
    for rank, (_, ticker, _, _) in enumerate(COINS, 1):
        if ticker in NO_PAIR or f"{ticker}{quote}" in out:
            continue
        volume = 5e9 / rank * (20 if ticker in ("DOGE", "PEPE") else 1)
        out[f"{ticker}{quote}"] = Market(ticker, quote, "TRADING", volume)
    out["BTCUSDC"] = Market("BTC", "USDC", "TRADING", 1e8)  # another quote: never a USDT candidate
    return out
