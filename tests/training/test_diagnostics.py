"""Overfitting diagnostics against the published values (research/training.md §4.9) and on
synthetic studies whose answer is known (pure noise, one real edge among noise)."""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass

import numpy as np
import pytest

from backtestester.training import diagnostics as d


def close_to_digits(value: float, published: float, decimals: int) -> bool:
    """``value`` agrees with a published figure to the digits given (within one unit of the last
    digit: papers and test suites truncate as often as they round)."""
    return abs(value - published) <= 10.0 ** -decimals


# --------------------------------------------------------------------------- #
# Sharpe of a series, its moments, the estimator's variance
# --------------------------------------------------------------------------- #


def test_sharpe_is_per_period_mean_over_sample_std():
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.015])
    assert d.sharpe(r) == pytest.approx(r.mean() / r.std(ddof=1), rel=1e-12)


def test_sharpe_of_a_flat_series_is_zero_and_of_a_constant_gain_infinite():
    assert d.sharpe(np.zeros(10)) == 0.0
    assert d.sharpe(np.full(10, 0.001)) == math.inf


def test_moments_use_pearson_kurtosis_three_for_a_normal():
    r = np.random.default_rng(7).standard_normal(200_000)
    m = d.moments(r)
    assert m.periods == 200_000
    assert m.kurtosis == pytest.approx(3.0, abs=0.05)
    assert m.skew == pytest.approx(0.0, abs=0.02)


def test_sharpe_variance_is_mertens_with_t_minus_one_and_2026_with_t():
    # (1 - g3 SR + (g4 - 1)/4 SR^2) / (T - 1); normal returns: (1 + SR^2/2) / (T - 1)
    assert d.sharpe_variance(0.2, 101) == pytest.approx((1 + 0.02) / 100)
    assert d.sharpe_variance(0.2, 100, convention="2026") == pytest.approx((1 + 0.02) / 100)


# --------------------------------------------------------------------------- #
# Published values (§4.9)
# --------------------------------------------------------------------------- #


def test_psr_b1_mlfinlab():
    assert close_to_digits(d.psr(1.14, 1.0, 250, skew=0.0, kurtosis=3.0), 0.95727, 5)


def test_min_trl_b3_mlfinlab():
    assert close_to_digits(d.min_trl(1.14, 1.0, skew=0.0, kurtosis=3.0, alpha=0.05), 228.73497, 5)


def test_dsr_a_bailey_lopez_de_prado_2014_example():
    sr = 2.5 / math.sqrt(250)
    sr0 = d.expected_max_sharpe(100, 0.5 / 250)
    assert close_to_digits(sr0, 0.1132, 4)
    assert close_to_digits(sr0 * math.sqrt(250), 1.789, 3)
    value = d.dsr(sr, 1250, n_trials=100, trials_variance=0.5 / 250, skew=-3.0, kurtosis=10.0)
    assert close_to_digits(value, 0.9004, 4)


@pytest.mark.parametrize("n, published", [(10, 0.994), (100, 0.900), (1000, 0.640), (10_000, 0.339)])
def test_dsr_a_falls_as_the_number_of_trials_grows(n, published):
    value = d.dsr(2.5 / math.sqrt(250), 1250, n_trials=n, trials_variance=0.5 / 250, skew=-3.0, kurtosis=10.0)
    assert close_to_digits(value, published, 3)


def test_dsr_a_prime_normal_returns():
    value = d.dsr(2.5 / math.sqrt(250), 1250, n_trials=100, trials_variance=0.5 / 250)
    assert close_to_digits(value, 0.9428, 4)


def test_excess_kurtosis_passed_by_mistake_is_refused():
    # A': gamma4 = 7 with skew -3 is impossible for a Pearson kurtosis (>= 1 + skew^2)
    with pytest.raises(ValueError, match="Pearson"):
        d.dsr(2.5 / math.sqrt(250), 1250, n_trials=100, trials_variance=0.5 / 250, skew=-3.0, kurtosis=7.0)
    with pytest.raises(ValueError, match="Pearson"):
        d.psr(0.1, 0.0, 250, kurtosis=0.0)


def test_dsr_b2_mlfinlab_with_population_variance_of_the_trials():
    trials = np.array([3.5, 1.01, 1.02])
    value = d.dsr(1.14, 250, n_trials=3, trials_variance=float(trials.var(ddof=0)))
    assert close_to_digits(value, 0.95836, 5)


def test_trials_variance_counts_only_finite_sharpes_with_sample_ddof():
    assert d.trials_variance([3.5, 1.01, float("nan"), 1.02]) == pytest.approx(np.var([3.5, 1.01, 1.02], ddof=1))


@pytest.mark.parametrize("n, value", [(10, 1.5746), (100, 2.5306), (1000, 3.2551)])
def test_d_expected_maximum_of_n_standard_normals(n, value):
    assert close_to_digits(d.expected_max_normal(n), value, 4)


def test_e_minimum_backtest_length_45_trials():
    assert close_to_digits(d.min_backtest_length(45, 1.0), 4.998, 3)


C_SR = 0.036 / 0.079
C_MOMENTS = {"skew": -2.448, "kurtosis": 10.164}


def test_c_zoonekynd_2026_conventions():
    assert close_to_digits(math.sqrt(d.sharpe_variance(C_SR, 24, **C_MOMENTS, convention="2026")), 0.329, 3)
    assert close_to_digits(math.sqrt(d.sharpe_variance(C_SR, 24, convention="2026")), 0.214, 3)
    assert close_to_digits(d.psr(C_SR, 0.0, 24, **C_MOMENTS, convention="2026"), 0.987, 3)
    assert close_to_digits(d.psr(C_SR, 0.1, 24, **C_MOMENTS, convention="2026"), 0.939, 3)
    assert close_to_digits(d.min_trl(C_SR, 0.0, **C_MOMENTS, alpha=0.05, convention="2026"), 13.029, 3)


def test_c_power_and_false_discovery_rates_2026():
    beta = 1.0 - d.power(0.0, 0.5, 24, **C_MOMENTS, alpha=0.05)
    assert close_to_digits(beta, 0.315, 3)
    assert close_to_digits(d.pfdr(1.0 - 0.315, p1=0.05, alpha=0.05), 0.581, 3)
    assert close_to_digits(d.ofdr(C_SR, 0.0, 0.5, 24, **C_MOMENTS, p1=0.05), 0.306, 3)


def test_c_prime_same_inputs_2012_conventions():
    assert close_to_digits(d.psr(C_SR, 0.0, 24, **C_MOMENTS), 0.913, 3)
    assert close_to_digits(d.min_trl(C_SR, 0.0, **C_MOMENTS, alpha=0.05), 34.76, 2)


def test_min_trl_is_infinite_when_the_sharpe_does_not_beat_the_benchmark():
    assert d.min_trl(0.05, 0.1) == math.inf


def test_one_trial_is_not_deflated():
    assert d.expected_max_sharpe(1, 0.01) == 0.0
    assert d.dsr(0.1, 500, n_trials=1, trials_variance=0.0) == pytest.approx(d.psr(0.1, 0.0, 500))


# --------------------------------------------------------------------------- #
# PBO by CSCV
# --------------------------------------------------------------------------- #


def test_g1_pbo_toy_by_hand():
    m = np.array([[4, 1, 2], [3, 0.3, 2.1], [-2, 1.2, 2.2], [-1, 3.1, 1.9]], dtype=float)
    result = d.pbo_cscv(m, s=4, metric="mean")
    assert result.pbo == pytest.approx(4 / 6)
    ln3 = math.log(3)
    # splits in itertools.combinations order: IS blocks 01, 02, 03, 12, 13, 23
    assert result.logits == pytest.approx([-ln3, ln3, 0.0, 0.0, ln3, -ln3])
    # IS {0, 1} picks A (mean 3.5), whose OOS mean is -1.5
    assert result.is_best[0] == pytest.approx(3.5)
    assert result.oos_best[0] == pytest.approx(-1.5)


def test_g2_pure_noise_pbo_is_near_one_half():
    m = np.random.default_rng(0).standard_normal((1000, 100)) * 0.01
    result = d.pbo_cscv(m)
    assert len(result.logits) == 12_870
    # seed 0 gives 0.4773 (6,143 of 12,870 splits); single realisations vary widely (research
    # §4.9 G2: 0.27-0.73 over seeds; seeds 1-5 here: 0.29-0.75), so the band is around this
    # seed's value
    assert result.pbo == pytest.approx(0.4773, abs=0.002)
    assert 0.25 < result.pbo < 0.75


def test_g3_one_real_edge_among_noise_pbo_is_near_zero():
    rng = np.random.default_rng(1)
    m = rng.standard_normal((1000, 100)) * 0.01
    m[:, 17] += 0.3 * 0.01  # a true per-period Sharpe of 0.3
    result = d.pbo_cscv(m)
    assert result.pbo < 0.01
    assert result.prob_oos_loss < 0.01


def sharpe_or_zero(x):
    std = x.std(0, ddof=1)
    return np.divide(x.mean(0), std, out=np.zeros(x.shape[1]), where=std > 0)


def naive_pbo(m, s, metric):
    """CSCV written out split by split, the paper's steps 1-5 (the reference for the vectorised one)."""
    blocks = np.array_split(np.arange(len(m)), s)
    logits = []
    for chosen in itertools.combinations(range(s), s // 2):
        is_rows = np.concatenate([blocks[b] for b in chosen])
        oos_rows = np.concatenate([blocks[b] for b in range(s) if b not in chosen])
        score = (lambda x: x.mean(0)) if metric == "mean" else sharpe_or_zero
        r_is, r_oos = score(m[is_rows]), score(m[oos_rows])
        best = int(np.argmax(r_is))
        rank = (r_oos < r_oos[best]).sum() + ((r_oos == r_oos[best]).sum() + 1) / 2
        w = rank / (m.shape[1] + 1)
        logits.append(math.log(w / (1 - w)))
    return np.array(logits)


@pytest.mark.parametrize("t, s, metric", [(97, 6, "sharpe"), (50, 8, "mean"), (40, 4, "sharpe"), (9, 2, "sharpe")])
def test_vectorised_cscv_equals_the_split_by_split_computation(t, s, metric):
    m = np.random.default_rng(t).standard_normal((t, 7)) * 0.01 + 0.001
    expected = naive_pbo(m, s, metric)
    result = d.pbo_cscv(m, s=s, metric=metric)
    assert result.logits == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert result.pbo == float(np.mean(expected <= 0))


def test_degradation_pairs_and_slope_are_reported():
    m = np.random.default_rng(2).standard_normal((320, 20))
    result = d.pbo_cscv(m, s=8)
    assert result.is_best.shape == result.oos_best.shape == (70,)
    slope, intercept = np.polyfit(result.is_best, result.oos_best, 1)
    assert result.slope == pytest.approx(slope)
    assert result.intercept == pytest.approx(intercept)
    assert result.prob_oos_loss == pytest.approx(float(np.mean(result.oos_best < 0)))


def test_pbo_is_fast_on_a_200_trial_study():
    m = np.random.default_rng(3).standard_normal((1000, 200))
    d.pbo_cscv(m[:100, :10], s=4)  # warm-up
    took = []
    for _ in range(3):  # the best of three: other work on a shared machine only slows a run down
        start = time.perf_counter()
        d.pbo_cscv(m, s=16)
        took.append(time.perf_counter() - start)
    assert min(took) < 1.0  # ~0.1 s on one core


def test_trials_flat_for_all_or_part_of_the_sample_score_a_sharpe_of_zero_there():
    m = np.random.default_rng(4).standard_normal((400, 6)) * 0.01
    m[:, 3] = 0.0           # never traded
    m[:200, 4] = 0.0        # traded only in the second half
    result = d.pbo_cscv(m, s=8)
    assert np.isfinite(result.logits).all()
    assert result.logits == pytest.approx(naive_pbo(m, 8, "sharpe"), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kwargs, matrix, message", [
    ({"s": 15}, np.zeros((100, 4)), "even"),
    ({"s": 16}, np.zeros((10, 4)), "periods"),
    ({"s": 4}, np.zeros((100, 1)), "at least 2 trials"),
    ({"s": 4}, np.zeros(100), "T x N"),
    ({"s": 4, "metric": "sortino"}, np.zeros((100, 4)), "metric"),
])
def test_pbo_bad_input_says_what_is_needed(kwargs, matrix, message):
    with pytest.raises(ValueError, match=message):
        d.pbo_cscv(matrix, **kwargs)


def test_pbo_refuses_nan():
    m = np.zeros((100, 4))
    m[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        d.pbo_cscv(m, s=4)


@pytest.mark.parametrize("call, message", [
    (lambda: d.sharpe([0.1]), "at least 2"),
    (lambda: d.sharpe([0.1, float("nan"), 0.2]), "NaN"),
    (lambda: d.psr(0.1, 0.0, 1), "periods"),
    (lambda: d.min_trl(0.2, 0.1, alpha=1.5), "alpha"),
    (lambda: d.expected_max_sharpe(0, 0.1), "n_trials"),
    (lambda: d.expected_max_sharpe(10, -0.1), "variance"),
    (lambda: d.psr(0.1, 0.0, 100, convention="2020"), "convention"),
    (lambda: d.pfdr(0.7, p1=1.0), "p1"),
    (lambda: d.pfdr(1.2, p1=0.05), "power"),
])
def test_bad_scalar_input_says_what_is_needed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- #
# Verdict and the study summary
# --------------------------------------------------------------------------- #


def test_verdict_overfit():
    assert d.verdict(pbo=0.62).startswith("likely overfit: PBO 0.62")


def test_verdict_real():
    assert d.verdict(dsr=0.97, n_trials=50) == "the best Sharpe is probably real: DSR 0.97 (50 trials)"


def test_verdict_combines_and_marks_the_weaker_finding():
    text = d.verdict(pbo=0.05, dsr=0.71, n_trials=200)
    assert "PBO 0.05" in text and "DSR 0.71" in text
    assert "not significant" in text


def test_verdict_without_evidence():
    assert "no diagnostics" in d.verdict()


def test_returns_diagnostics_on_noise_flags_overfitting():
    rng = np.random.default_rng(5)
    oos = rng.standard_normal((1000, 60)) * 0.01
    sharpes = [d.sharpe(oos[:, i]) for i in range(60)]
    best = int(np.argmax(sharpes))
    out = d.returns_diagnostics(oos[:, best], sharpes, n_trials=75, oos_matrix=oos)
    assert out["n_trials"] == 75
    assert out["dsr"] < 0.95
    assert 0.0 <= out["pbo"] <= 1.0
    assert out["verdict"] == d.verdict(pbo=out["pbo"], dsr=out["dsr"], n_trials=75)
    assert set(out) >= {"sharpe", "skew", "kurtosis", "periods", "psr", "min_trl", "sr0", "dsr", "pbo"}


def test_returns_diagnostics_refuses_fewer_trials_than_sharpes():
    with pytest.raises(ValueError, match="n_trials"):
        d.returns_diagnostics(np.zeros(10) + np.arange(10) * 0.001, [0.1, 0.2, 0.3], n_trials=2)


@dataclass
class Outcome:
    """The fields of training.evaluate.TrialOutcome that study_diagnostics reads (plain data)."""

    state: str
    oos_returns: list
    oos_times: list
    error: str | None = None


def study_of(matrix, states):
    """Outcomes whose returns are the matrix's columns, cut into two folds (times: day numbers)."""
    cut = matrix.shape[0] // 2
    days = np.arange(matrix.shape[0], dtype=np.int64) * 86_400 * 10**9
    outcomes = []
    for column, state in zip(matrix.T, states):
        folds = 1 if state == "pruned" else 2
        returns, times = [column[:cut], column[cut:]][:folds], [days[:cut], days[cut:]][:folds]
        if state == "failed":
            returns, times = [], []
        outcomes.append(Outcome(state, returns, times, "Traceback ..." if state == "failed" else None))
    return outcomes


def test_study_diagnostics_counts_every_trial_and_uses_the_complete_ones():
    matrix = np.random.default_rng(6).standard_normal((600, 12)) * 0.01
    states = ["complete"] * 8 + ["pruned", "pruned", "failed", "failed"]
    outcomes = study_of(matrix, states)
    sharpes = [d.sharpe(matrix[:, i]) for i in range(8)]
    best = int(np.argmax(sharpes))
    out = d.study_diagnostics(outcomes, outcomes[best])
    expected = d.returns_diagnostics(matrix[:, best], sharpes, n_trials=12, oos_matrix=matrix[:, :8])
    assert out["n_trials"] == 12
    assert out == {**expected, "notes": []}


def test_study_diagnostics_without_two_complete_trials_notes_why_there_is_no_pbo():
    matrix = np.random.default_rng(8).standard_normal((300, 3)) * 0.01
    outcomes = study_of(matrix, ["complete", "pruned", "failed"])
    out = d.study_diagnostics(outcomes, outcomes[0])
    assert math.isnan(out["pbo"]) and out["n_trials"] == 3
    assert "at least 2 complete trials" in out["notes"][0]
    assert "PBO" not in out["verdict"]


def test_study_diagnostics_with_too_few_periods_for_the_blocks_notes_it():
    matrix = np.random.default_rng(9).standard_normal((10, 4)) * 0.01
    outcomes = study_of(matrix, ["complete"] * 4)
    out = d.study_diagnostics(outcomes, outcomes[0], s=16)
    assert math.isnan(out["pbo"])
    assert "at least 16 out-of-sample periods" in out["notes"][0]


def test_study_diagnostics_of_a_best_without_returns_says_so():
    outcomes = [Outcome("failed", [], [], "Traceback ...")]
    out = d.study_diagnostics(outcomes, outcomes[0])
    assert out["n_trials"] == 1
    assert "fewer than 2" in out["notes"][0]
    assert out["verdict"].startswith("no diagnostics")
