"""Is the best backtest just the luckiest? Overfitting statistics for sweep selections.

* Deflated Sharpe ratio — D. H. Bailey and M. López de Prado, "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
  Management 40(5), 2014; with the probabilistic Sharpe ratio of Bailey & López de Prado, "The
  Sharpe Ratio Efficient Frontier", Journal of Risk 15(2), 2012.
* Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV) —
  D. H. Bailey, J. M. Borwein, M. López de Prado and Q. J. Zhu, "The Probability of Backtest
  Overfitting", Journal of Computational Finance 20(4), 2017.
* Confidence intervals by the stationary bootstrap — D. N. Politis and J. P. Romano, "The
  Stationary Bootstrap", Journal of the American Statistical Association 89(428), 1994.

Units: every Sharpe ratio here is per period (per day for daily returns), NOT annualised:
SR = mean(r)/std(r, ddof 1) with risk-free 0 (:func:`threadx_core.metrics.sharpe` with
``periods_per_year`` 1, and its degenerate cases); kurtosis is the non-excess γ₄ = m₄/m₂² (3 for a
normal law), skewness γ₃ = m₃/m₂^1.5 (population moments). The normal CDF and quantile are
:class:`statistics.NormalDist`'s (no SciPy).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import pandas as pd

from threadx_core import metrics
from threadx_core.research import chain

#: The Euler–Mascheroni constant γ.
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


# --------------------------------------------------------------------------------------------
# Deflated Sharpe ratio
# --------------------------------------------------------------------------------------------


def moments(returns: object) -> tuple[float, float]:
    """(skewness γ₃ = m₃/m₂^1.5, non-excess kurtosis γ₄ = m₄/m₂²) of a 1-D series, with the
    population central moments m_k = mean((r − mean r)^k); raises ``ValueError`` when m₂ = 0."""
    r = np.asarray(returns, dtype=np.float64)
    centred = r - r.mean()
    m2 = float(np.mean(centred**2))
    if not m2 > 0.0:
        raise ValueError("skewness and kurtosis need returns that are not all equal")
    return float(np.mean(centred**3)) / m2**1.5, float(np.mean(centred**4)) / m2**2


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR₀ = √V[SR]·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))): the expected maximum Sharpe of N
    independent trials with true Sharpe 0 and cross-trial variance V[SR] (γ: Euler–Mascheroni;
    Bailey & López de Prado 2014, eq. 6 — from the false strategy theorem). N = 1 gives 0 (the
    expected value of a single trial; the formula's Φ⁻¹(0) = −∞ is not used). Raises
    ``ValueError`` for N < 1 or V < 0."""
    if isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1:
        raise ValueError(f"n_trials must be an integer ≥ 1, got {n_trials!r}")
    if not sharpe_variance >= 0.0:
        raise ValueError(f"sharpe_variance must be ≥ 0, got {sharpe_variance!r}")
    if n_trials == 1:
        return 0.0
    quantiles = ((1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
                 + EULER_GAMMA * _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e)))
    return math.sqrt(sharpe_variance) * quantiles


def probabilistic_sharpe_ratio(sharpe: float, benchmark: float, n_obs: int, skewness: float = 0.0,
                               kurtosis: float = 3.0) -> float:
    """PSR(SR*) = Φ((SR − SR*)·√(T − 1) / √(1 − γ₃·SR + (γ₄ − 1)/4·SR²)): the probability that the
    true Sharpe exceeds ``benchmark`` SR*, given the observed per-period ``sharpe`` SR over T =
    ``n_obs`` returns with skewness γ₃ and non-excess kurtosis γ₄ (Bailey & López de Prado 2012).
    Raises ``ValueError`` for T < 2 or when the variance term 1 − γ₃·SR + (γ₄ − 1)/4·SR² is ≤ 0."""
    if n_obs < 2:
        raise ValueError(f"n_obs must be ≥ 2, got {n_obs!r}")
    spread = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not spread > 0.0:
        raise ValueError(f"1 − γ₃·SR + (γ₄ − 1)/4·SR² = {spread!r} must be > 0 (check skewness/kurtosis)")
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread))


def deflated_sharpe_ratio(sharpe: float, n_trials: int, sharpe_variance: float, n_obs: int,
                          skewness: float = 0.0, kurtosis: float = 3.0) -> float:
    """DSR = PSR(SR₀) with SR₀ = :func:`expected_max_sharpe` (N, V[SR]): the probability that the
    selected strategy's true Sharpe is positive once the selection among N trials is accounted
    for (Bailey & López de Prado 2014, eq. 5). All Sharpe figures per period; with N = 1 it is
    PSR(0). E.g. SR = 2.5/√250, N = 100, V[SR] = 0.5/250, T = 1250, γ₃ = −3, γ₄ = 10 → SR₀ ≈
    0.1132, DSR ≈ 0.9004 (the paper's example)."""
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, benchmark, n_obs, skewness, kurtosis)


def deflated_sharpe_of_selection(selected: object, trials: object) -> float:
    """:func:`deflated_sharpe_ratio` of the ``selected`` return series (T,) chosen among the
    columns of ``trials`` (T × N, e.g. the daily returns of every combination of a sweep, the
    selection included): SR, γ₃, γ₄ of ``selected``, N = trials' columns, V[SR] = variance
    (ddof 1; 0 for N = 1) of the trials' per-period Sharpe ratios. Raises ``ValueError`` when a
    trial's Sharpe is not finite (see :func:`threadx_core.metrics.sharpe`: fewer than two
    returns, constant non-zero returns, a return after a non-positive equity) or the shapes
    disagree."""
    r = np.asarray(selected, dtype=np.float64)
    table = np.asarray(trials, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] != r.shape[0] or table.shape[1] < 1:
        raise ValueError(f"trials must be T × N with T = {r.shape[0]} returns, got shape {table.shape}")
    sharpes = metrics.sharpe(table, 1.0)
    if not np.all(np.isfinite(sharpes)):
        raise ValueError("every trial needs a finite Sharpe ratio (at least two returns, not all equal, "
                         "none after the equity fell to ≤ 0)")
    variance = float(np.var(sharpes, ddof=1)) if sharpes.size > 1 else 0.0
    skewness, kurtosis = moments(r)
    return deflated_sharpe_ratio(float(metrics.sharpe(r, 1.0)), sharpes.size, variance, r.shape[0],
                                 skewness, kurtosis)


# --------------------------------------------------------------------------------------------
# Probability of backtest overfitting (CSCV)
# --------------------------------------------------------------------------------------------


class Overfitting(NamedTuple):
    """``pbo`` = fraction of splits with λ ≤ 0; per split, in :func:`itertools.combinations`
    order of the in-sample groups: ``logits`` λ, the selected strategy's ``in_sample`` score and
    ``out_of_sample`` score, and ``selected`` (its column)."""

    pbo: float
    logits: np.ndarray
    in_sample: np.ndarray
    out_of_sample: np.ndarray
    selected: np.ndarray


def column_mean(block: np.ndarray) -> np.ndarray:
    """The default CSCV score of each strategy over a block of rows: the mean of its cells."""
    return block.mean(axis=0)


def relative_rank(scores: np.ndarray, column: int) -> float:
    """ω̄ = rank of ``scores[column]`` among the N scores (1 = lowest, N = highest; ties get their
    average rank) divided by N + 1, so ω̄ ∈ (0, 1)."""
    value = scores[column]
    rank = np.sum(scores < value) + (np.sum(scores == value) + 1) / 2.0
    return float(rank / (scores.size + 1))


def probability_of_backtest_overfitting(
        performance: object, n_groups: int = 8,
        score: Callable[[np.ndarray], np.ndarray] = column_mean) -> Overfitting:
    """PBO by CSCV (Bailey, Borwein, López de Prado & Zhu 2017).

    ``performance``: T × N (rows: periods in time order, e.g. months; columns: strategies, e.g.
    the combinations of a grid; cells: a performance such as the monthly return or Sharpe),
    finite. The rows are cut into S = ``n_groups`` contiguous groups (S even, 2 ≤ S ≤ T; sizes
    differ by at most one row when S does not divide T). For each of the C(S, S/2) choices of
    S/2 groups as in-sample (the others out-of-sample): ``score`` (block → N scores, higher is
    better; default: column mean) on each half; n* = the in-sample best (first column on ties);
    ω̄ = :func:`relative_rank` of n* out of sample; λ = ln(ω̄/(1 − ω̄)). PBO = #{λ ≤ 0}/C(S, S/2):
    the probability that the in-sample best is at or below the out-of-sample median.
    Raises ``ValueError`` for a bad shape, non-finite cells or scores, or a bad ``n_groups``.
    """
    table = np.asarray(performance, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValueError(f"performance must be T × N with N ≥ 2 strategies, got shape {table.shape}")
    if not np.all(np.isfinite(table)):
        raise ValueError("performance must be finite")
    if n_groups < 2 or n_groups % 2 or n_groups > table.shape[0]:
        raise ValueError(f"n_groups must be even, ≥ 2 and ≤ T = {table.shape[0]}, got {n_groups!r}")
    groups = np.array_split(np.arange(table.shape[0]), n_groups)
    results = [_split(table, groups, chosen, score)
               for chosen in itertools.combinations(range(n_groups), n_groups // 2)]
    logits, in_sample, out_of_sample, selected = (np.array(column) for column in zip(*results, strict=True))
    return Overfitting(float(np.mean(logits <= 0.0)), logits, in_sample, out_of_sample,
                       selected.astype(np.int64))


def _split(table: np.ndarray, groups: list[np.ndarray], chosen: tuple[int, ...],
           score: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float, float, int]:
    """(λ, in-sample score, out-of-sample score, column) of one CSCV split."""
    inside = np.concatenate([groups[g] for g in chosen])
    outside = np.concatenate([groups[g] for g in range(len(groups)) if g not in chosen])
    is_scores, oos_scores = score(table[inside]), score(table[outside])
    if not (np.all(np.isfinite(is_scores)) and np.all(np.isfinite(oos_scores))):
        raise ValueError("score must return finite values")
    best = int(np.argmax(is_scores))
    omega = relative_rank(oos_scores, best)
    return math.log(omega / (1.0 - omega)), float(is_scores[best]), float(oos_scores[best]), best


# --------------------------------------------------------------------------------------------
# Stationary bootstrap
# --------------------------------------------------------------------------------------------


def stationary_bootstrap_indices(n_obs: int, n_samples: int, mean_block: float,
                                 rng: np.random.Generator) -> np.ndarray:
    """Indices (n_obs × n_samples) of stationary-bootstrap resamples (Politis & Romano 1994):
    each resample is a run of blocks, each block starting at a uniform random position and
    continuing circularly (index T − 1 is followed by 0); a new block starts at each position
    with probability 1/``mean_block``, so block lengths are geometric with mean ``mean_block``."""
    restart = rng.random((n_obs, n_samples)) < 1.0 / mean_block
    restart[0] = True
    starts = rng.integers(0, n_obs, size=(n_obs, n_samples))
    position = np.arange(n_obs)[:, np.newaxis]
    block_start = np.maximum.accumulate(np.where(restart, position, 0), axis=0)
    return (np.take_along_axis(starts, block_start, axis=0) + position - block_start) % n_obs


def bootstrap_intervals(daily_returns: object, *, n_samples: int = 2000, mean_block: float = 5.0,
                        confidence: float = 0.90, seed: int = 0) -> pd.DataFrame:
    """Percentile confidence intervals of the daily-based Sharpe (annualised, √365), total return
    and max drawdown of a daily return series (as :mod:`threadx_core.research.chain` defines them),
    from ``n_samples`` stationary-bootstrap resamples with mean block length ``mean_block`` days
    (:func:`stationary_bootstrap_indices`, which keeps short-range dependence), drawn with
    ``numpy.random.default_rng(seed)``: the same inputs and seed give the same intervals.

    Returns a frame indexed by ``sharpe``, ``total_return``, ``max_drawdown`` with columns
    ``estimate`` (on the series itself), ``low`` and ``high`` (the (1 − confidence)/2 and
    (1 + confidence)/2 quantiles of the resampled statistic; 5 % and 95 % by default; NaN
    resampled values are ignored). Raises ``ValueError`` for fewer than two returns,
    ``n_samples`` < 1, ``mean_block`` < 1 or ``confidence`` outside (0, 1).
    """
    r = np.asarray(daily_returns, dtype=np.float64)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"daily_returns must be a 1-D series of at least two returns, got shape {r.shape}")
    if n_samples < 1 or not mean_block >= 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need n_samples ≥ 1, mean_block ≥ 1 and 0 < confidence < 1, got "
                         f"{n_samples!r}, {mean_block!r}, {confidence!r}")
    samples = r[stationary_bootstrap_indices(r.size, n_samples, mean_block, np.random.default_rng(seed))]
    statistics = {"sharpe": lambda r: metrics.sharpe(r, chain.DAYS_PER_YEAR),
                  "total_return": metrics.total_return, "max_drawdown": metrics.max_drawdown}
    tails = [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0]
    rows = {}
    for name, statistic in statistics.items():
        low, high = np.nanquantile(statistic(samples), tails)
        rows[name] = {"estimate": float(statistic(r)), "low": float(low), "high": float(high)}
    return pd.DataFrame.from_dict(rows, orient="index")
