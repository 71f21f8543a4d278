"""Market data: sources of canonical 1-minute candles and their resampling."""

from threadx_core.data.gaps import Gaps, fill_gaps, find_gaps
from threadx_core.data.resample import resample, resample_all
from threadx_core.data.synthetic import synthetic

__all__ = ["Gaps", "fill_gaps", "find_gaps", "resample", "resample_all", "synthetic"]
