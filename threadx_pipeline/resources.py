"""Dagster resources: the settings file, and the market-data source it configures."""


import dagster as dg
import pandas as pd

from threadx_core import settings
from threadx_core.data import sources


class SettingsResource(dg.ConfigurableResource):
    """The validated ``threadx.toml`` at ``path``."""

    path: str

    def get(self) -> settings.Settings:
        return settings.load(self.path)


class MarketDataResource(dg.ConfigurableResource):
    """The 1-minute candle source named in the settings (``[source] kind``).

    ``frozen_now`` pins the clock (an ISO UTC time) so that tests and reproducible runs decide
    the same "current month" and "still-open candle" whatever the wall clock says.
    """

    config: SettingsResource
    frozen_now: str | None = None

    def source(self) -> sources.Source:
        return sources.from_settings(self.config.get())

    def now(self) -> pd.Timestamp:
        if self.frozen_now:
            return pd.Timestamp(self.frozen_now).tz_convert("UTC")
        return pd.Timestamp.now(tz="UTC")
