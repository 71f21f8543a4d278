"""Overfitting statistics: deflated Sharpe ratio, PBO by CSCV, stationary bootstrap intervals."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx_core import metrics
from threadx_core.research.overfitting import (
    EULER_GAMMA,
    bootstrap_intervals,
    deflated_sharpe_of_selection,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    relative_rank,
    stationary_bootstrap_indices,
)


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def phi_inverse(p: float) -> float:
    """Φ⁻¹ by bisection on math.erf — an oracle independent of statistics.NormalDist."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if phi(mid) < p else (lo, mid)
    return (lo + hi) / 2


# ------------------------------------------------------------------ deflated Sharpe


def test_the_papers_numerical_example():
    """Bailey & López de Prado (2014): annual SR 2.5 over 5 years of daily returns, 100 trials with
    annualised V[SR] = 0.5, skewness −3, kurtosis 10 → SR₀ ≈ 0.1132 per day, DSR ≈ 0.9004."""
    sharpe, variance = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, variance) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe_ratio(sharpe, 100, variance, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-5)


def test_expected_maximum_and_psr_against_hand_computed_values():
    n, variance = 10, 0.04
    sr0 = 0.2 * ((1 - EULER_GAMMA) * phi_inverse(0.9) + EULER_GAMMA * phi_inverse(1 - 1 / (10 * math.e)))
    assert expected_max_sharpe(n, variance) == pytest.approx(sr0, rel=1e-9)
    assert phi_inverse(0.9) == pytest.approx(1.2815515655446004, rel=1e-9)
    # SR 0.1 over 101 returns, normal: z = 0.1·10/√(1 + 0.5·0.01)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101) == pytest.approx(phi(1 / math.sqrt(1.005)), rel=1e-12)
    # skew −1, kurtosis 6: denominator 1 + 0.1 + 1.25·0.01
    assert probabilistic_sharpe_ratio(0.1, 0.05, 101, -1.0, 6.0) == pytest.approx(
        phi(0.05 * 10 / math.sqrt(1.1125)), rel=1e-12)
    assert deflated_sharpe_ratio(0.5, n, variance, 50, 0.3, 4.0) == pytest.approx(
        phi((0.5 - sr0) * 7 / math.sqrt(1 - 0.15 + 0.75 * 0.25)), rel=1e-9)


@settings(max_examples=50, deadline=None)
@given(st.floats(-0.3, 0.5), st.integers(1, 5000), st.floats(1e-5, 0.05), st.integers(10, 2000))
def test_dsr_falls_as_trials_grow_and_equals_psr_of_zero_for_one_trial(sharpe, n, variance, t):
    assert deflated_sharpe_ratio(sharpe, n + 1, variance, t) <= deflated_sharpe_ratio(sharpe, n, variance, t)
    assert expected_max_sharpe(n + 1, variance) > expected_max_sharpe(n, variance)
    assert deflated_sharpe_ratio(sharpe, 1, variance, t, 0.2, 5.0) == probabilistic_sharpe_ratio(
        sharpe, 0.0, t, 0.2, 5.0)
    assert deflated_sharpe_ratio(sharpe, n, 0.0, t) == probabilistic_sharpe_ratio(sharpe, 0.0, t)


def test_dsr_of_a_selection_from_its_returns():
    rng = np.random.default_rng(7)
    trials = rng.normal(0.0005, 0.01, (400, 30))
    trials[:, 4] += 0.002
    sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
    centred = trials[:, 4] - trials[:, 4].mean()
    skew = np.mean(centred**3) / np.mean(centred**2) ** 1.5
    kurt = np.mean(centred**4) / np.mean(centred**2) ** 2
    expected = deflated_sharpe_ratio(sharpes[4], 30, float(np.var(sharpes, ddof=1)), 400, skew, kurt)
    assert deflated_sharpe_of_selection(trials[:, 4], trials) == pytest.approx(expected, rel=1e-12)
    assert 0.5 < expected < 1.0
    np.testing.assert_allclose(metrics.sharpe(trials, 1.0), sharpes)


def test_a_trial_ruined_before_its_last_return_has_no_sharpe():
    """The per-period Sharpe is metrics.sharpe with P = 1, its degenerate rules included: a
    return after the compounded equity fell to ≤ 0 is undefined, so such a trial has no Sharpe
    and the selection's DSR is refused (the walk-forward leaves such trials out)."""
    rng = np.random.default_rng(8)
    trials = rng.normal(0.0005, 0.01, (50, 3))
    trials[10, 2] = -1.5
    assert np.isnan(metrics.sharpe(trials, 1.0)[2]) and np.isfinite(metrics.sharpe(trials, 1.0)[:2]).all()
    with pytest.raises(ValueError, match="finite Sharpe"):
        deflated_sharpe_of_selection(trials[:, 0], trials)


def test_moments_of_known_series():
    assert moments([-1.0, 1.0]) == (0.0, 1.0)
    skew, kurt = moments(np.random.default_rng(1).normal(size=200_000))
    assert abs(skew) < 0.02 and kurt == pytest.approx(3.0, abs=0.05)
    with pytest.raises(ValueError, match="not all equal"):
        moments([0.1, 0.1])


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="sharpe_variance"):
        expected_max_sharpe(5, -0.1)
    with pytest.raises(ValueError, match="n_obs"):
        probabilistic_sharpe_ratio(0.1, 0.0, 1)
    with pytest.raises(ValueError, match="must be > 0"):
        probabilistic_sharpe_ratio(1.0, 0.0, 100, skewness=3.0, kurtosis=3.0)
    with pytest.raises(ValueError, match="trials must be T × N"):
        deflated_sharpe_of_selection(np.ones(10), np.ones((9, 3)))
    with pytest.raises(ValueError, match="finite Sharpe"):
        deflated_sharpe_of_selection(np.arange(4.0), np.column_stack([np.arange(4.0), np.full(4, 0.5)]))


# ------------------------------------------------------------------ PBO by CSCV


def test_a_strategy_best_everywhere_is_never_overfit():
    rng = np.random.default_rng(0)
    performance = np.arange(20.0) + rng.uniform(0, 0.5, (24, 20))
    result = probability_of_backtest_overfitting(performance, 6)
    assert result.pbo == 0.0
    assert len(result.logits) == math.comb(6, 3)
    np.testing.assert_allclose(result.logits, math.log(20))
    assert (result.selected == 19).all()


def test_zero_sum_strategies_are_always_overfit():
    """Every column sums to 0 over the sample, so the best half is the worst other half."""
    rng = np.random.default_rng(1)
    performance = rng.normal(size=(48, 30))
    performance -= performance.mean(axis=0)
    result = probability_of_backtest_overfitting(performance, 8)
    assert result.pbo == 1.0
    np.testing.assert_allclose(result.out_of_sample, -result.in_sample, atol=1e-12)


def test_pure_noise_is_overfit_about_half_the_time():
    pbos = [probability_of_backtest_overfitting(np.random.default_rng(seed).normal(size=(36, 40)), 6).pbo
            for seed in range(30)]
    assert 0.4 < np.mean(pbos) < 0.6


def test_splits_are_the_combinations_of_half_the_groups():
    performance = np.zeros((4, 3))
    performance[:, 1] = [1.0, 0.0, 0.0, 0.0]  # best only in the first row
    performance[:, 2] = [0.0, 0.5, 0.5, 0.5]
    result = probability_of_backtest_overfitting(performance, 4)
    for (inside, *_), column in zip(combinations(range(4), 2), result.selected, strict=True):
        assert column == (1 if inside == 0 else 2)
    # IS with row 0 → column 1, OOS tied with column 0 at the bottom: ω̄ = 1.5/4; IS without row 0
    # → column 2, OOS the median: ω̄ = 2/4, λ = 0, which counts as overfit
    np.testing.assert_allclose(result.logits, [math.log(0.6)] * 3 + [0.0] * 3, atol=1e-15)
    assert result.pbo == 1.0


def test_relative_rank_averages_ties():
    assert relative_rank(np.array([1.0, 2.0, 3.0]), 2) == 3 / 4
    assert relative_rank(np.array([2.0, 2.0, 1.0, 0.0]), 0) == 3.5 / 5


def test_bad_pbo_inputs_are_refused():
    with pytest.raises(ValueError, match="n_groups"):
        probability_of_backtest_overfitting(np.zeros((10, 3)), 3)
    with pytest.raises(ValueError, match="n_groups"):
        probability_of_backtest_overfitting(np.zeros((3, 3)), 4)
    with pytest.raises(ValueError, match="finite"):
        probability_of_backtest_overfitting(np.array([[np.nan, 1.0], [1.0, 2.0]]), 2)
    with pytest.raises(ValueError, match="N ≥ 2"):
        probability_of_backtest_overfitting(np.zeros((4, 1)), 2)


# ------------------------------------------------------------------ stationary bootstrap


def well_behaved(seed: int = 11) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.001, 0.01, 365)


def test_bootstrap_is_reproducible_from_its_seed():
    r = well_behaved()
    a, b = bootstrap_intervals(r, n_samples=300, seed=5), bootstrap_intervals(r, n_samples=300, seed=5)
    assert a.equals(b)
    assert not a.equals(bootstrap_intervals(r, n_samples=300, seed=6))


def test_intervals_bracket_the_estimates_of_a_well_behaved_series():
    r = well_behaved()
    table = bootstrap_intervals(r, n_samples=1000)
    assert list(table.index) == ["sharpe", "total_return", "max_drawdown"]
    assert (table["low"] < table["estimate"]).all() and (table["estimate"] < table["high"]).all()
    assert table.loc["sharpe", "estimate"] == pytest.approx(float(metrics.sharpe(r, 365)))
    assert table.loc["total_return", "estimate"] == pytest.approx(np.prod(1 + r) - 1)


def test_endless_blocks_are_circular_rotations():
    """With a mean block far longer than the series, each resample is one circular block, so its
    compounded return is the series' own: the interval collapses onto the estimate."""
    r = well_behaved()
    table = bootstrap_intervals(r, n_samples=200, mean_block=1e15)
    assert table.loc["total_return", "low"] == pytest.approx(table.loc["total_return", "estimate"], rel=1e-9)
    assert table.loc["total_return", "high"] == pytest.approx(table.loc["total_return", "estimate"], rel=1e-9)


def test_block_lengths_are_geometric_with_the_requested_mean():
    n, samples, mean_block = 500, 400, 8.0
    idx = stationary_bootstrap_indices(n, samples, mean_block, np.random.default_rng(2))
    assert idx.shape == (n, samples) and idx.min() >= 0 and idx.max() < n
    continued = idx[1:] == (idx[:-1] + 1) % n
    assert 1 - continued.mean() == pytest.approx(1 / mean_block, rel=0.05)
    iid = stationary_bootstrap_indices(n, samples, 1.0, np.random.default_rng(2))
    assert np.mean(iid[1:] == (iid[:-1] + 1) % n) < 0.01


def test_bad_bootstrap_inputs_are_refused():
    with pytest.raises(ValueError, match="at least two"):
        bootstrap_intervals([0.01])
    with pytest.raises(ValueError, match="mean_block"):
        bootstrap_intervals(well_behaved(), mean_block=0.5)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_intervals(well_behaved(), confidence=1.0)
