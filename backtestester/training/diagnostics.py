"""Overfitting diagnostics of a parameter search, with written-down definitions.

A search that tries many configurations finds a good-looking one by luck alone. These functions
say how much of the winner's Sharpe ratio survives that: the Probabilistic and Deflated Sharpe
Ratios, the Minimum Track Record Length, and the Probability of Backtest Overfitting by
combinatorially symmetric cross-validation. Sources and the published values the tests check are
in research/training.md §4; docs/training/diagnostics.md explains them for users.

Conventions
-----------
Returns ``r_1 .. r_T``
    Per-period simple returns at one frequency (the trials' daily out-of-sample returns), ``T``
    of them (``periods``).  Nothing here is annualised: every Sharpe ratio is **per period**.  A
    Sharpe annualised with ``sqrt(P)`` (as :mod:`backtestester.stats` reports it) must be divided
    by ``sqrt(P)`` before it is passed in; an annualised Sharpe with a daily ``T`` makes every DSR
    ~1.0 (research §4.10).

Sharpe ratio ``SR``
    ``mean(r) / std(r, ddof=1)``, no risk-free rate (the statistics module's ``sharpe`` without
    the ``sqrt(P)``).  A flat series (standard deviation below 1e-14) has ``SR = 0`` if its mean
    is 0 (a trial that never traded) and ``+-inf`` otherwise.

Moments ``g3`` (skewness) and ``g4`` (kurtosis)
    Population (biased) moments of ``r``: ``g3 = m3 / m2**1.5``, ``g4 = m4 / m2**2``.  ``g4`` is
    **Pearson** kurtosis, 3 for a normal, not the excess kurtosis that ``scipy.stats.kurtosis`` and
    pandas return by default.  Every function refuses a ``kurtosis < 1 + skew**2`` (impossible for
    a Pearson kurtosis: usually an excess kurtosis passed by mistake).

Variance of the SR estimator (Mertens 2002)
    ``v1(SR) = 1 - g3 * SR + (g4 - 1) / 4 * SR**2`` (the variance of one observation), and
    ``var(SR) = v1(SR) / (T - 1)`` (convention ``"2012"``, Bailey & Lopez de Prado 2012, the
    default: the published test values use it) or ``v1(SR) / T`` (convention ``"2026"``, Lopez
    de Prado, Lipton & Zoonekynd 2026).

PSR (Probabilistic Sharpe Ratio) against a benchmark ``SR*``
    ``Phi((SR - SR*) / sqrt(var))`` with ``var`` evaluated at ``SR`` in the 2012 convention and at
    ``SR*`` (under the null hypothesis) in the 2026 one.  The probability that the true Sharpe
    exceeds ``SR*``; significant at 5 % when above 0.95.

MinTRL (Minimum Track Record Length), in periods
    2012: ``1 + v1(SR) * (z / (SR - SR*))**2``; 2026: ``v1(SR*) * (z / (SR - SR*))**2`` with
    ``z = Phi^-1(1 - alpha)``; ``inf`` if ``SR <= SR*``.

SR0, the expected maximum Sharpe of ``N`` zero-skill trials (Bailey & Lopez de Prado 2014)
    ``SR0 = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))``, ``g`` the
    Euler-Mascheroni constant, ``V`` the variance of the trials' per-period Sharpes (``ddof=1``
    by default, see :func:`trials_variance`).  ``N`` counts **every** trial tried: completed,
    pruned and failed.  ``N = 1`` gives ``SR0 = 0`` (nothing was selected).

DSR (Deflated Sharpe Ratio)
    ``PSR(SR0)`` with the selected trial's ``SR``, ``T``, ``g3``, ``g4``.

Power and false discovery rates (2026 convention; variances at the Sharpe named, over ``T``)
    ``power = 1 - Phi((SR_c - SR1) / sigma(SR1))`` with the critical value
    ``SR_c = SR0 + z * sigma(SR0)``; ``pFDR = 1 / (1 + power * p1 / (alpha * (1 - p1)))`` (planned,
    ``p1`` the prior share of strategies with skill); ``oFDR = p0' (1 - p1) / (p0' (1 - p1) +
    p1' p1)`` with ``p0' = 1 - PSR(SR0)``, ``p1' = 1 - PSR(SR1)`` (observed).

MinBTL (Minimum Backtest Length), in years
    ``(((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e))) / E[max])**2``.

PBO (Probability of Backtest Overfitting) by CSCV (Bailey, Borwein, Lopez de Prado & Zhu 2017)
    The ``T x N`` matrix of per-period out-of-sample returns of ``N`` trials is cut into ``S``
    contiguous blocks of near-equal size (every row is used; the first ``T mod S`` blocks have one
    row more, as ``numpy.array_split`` cuts).
    For each of the ``C(S, S/2)`` choices of ``S/2`` blocks as in-sample (IS) and the rest as
    out-of-sample (OOS), in :func:`itertools.combinations` order: ``n*`` = the trial with the
    best IS metric (the first on a tie), ``w`` = its OOS rank among the ``N`` OOS metrics (1 =
    worst, ties get their average rank) divided by ``N + 1``, and the logit
    ``lambda = ln(w / (1 - w))``.  ``PBO = share of lambda <= 0`` (a median rank counts as
    overfit, as in the paper).  The metric is the per-period Sharpe (default) or the mean
    return.  Also reported: the performance-degradation pairs ``(IS metric of n*, OOS metric of
    n*)``, the least-squares slope of OOS on IS, and ``P(OOS loss)`` = share of splits whose
    ``n*`` has an OOS metric below 0.

Verdict thresholds (:func:`verdict`)
    PBO >= 0.5: "likely overfit"; 0.2 <= PBO < 0.5: "overfitting possible"; below: "selection
    holds out of sample".  DSR >= 0.95: "the best Sharpe is probably real"; 0.5 <= DSR < 0.95:
    "not significant after the search"; below 0.5: "probably luck".

Bad input (too few periods, ``S`` odd or larger than ``T``, fewer than 2 trials, NaN) raises
:class:`ValueError` saying what is needed.  ``nan`` moments give ``nan`` results.  Pure core:
the standard library and numpy.

Sources
-------
* Mertens, "Comments on variance of the IID estimator in Lo (2002)", 2002 (the SR variance).
* Bailey & Lopez de Prado, "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2), 2012
  (PSR, MinTRL; the "2012" convention).
* Bailey & Lopez de Prado, "The Deflated Sharpe Ratio", Journal of Portfolio Management 40(5),
  2014, SSRN 2460551 (SR0, DSR; its numerical example is a test).
* Bailey, Borwein, Lopez de Prado & Zhu, "Pseudo-Mathematics and Financial Charlatanism",
  Notices of the AMS 61(5), 2014 (MinBTL).
* Bailey, Borwein, Lopez de Prado & Zhu, "The Probability of Backtest Overfitting", Journal of
  Computational Finance 20(4), 2017, SSRN 2326253 (CSCV, PBO).
* Lopez de Prado, Lipton & Zoonekynd, "How to Use the Sharpe Ratio", ADIA Lab Research Paper 19,
  2026, SSRN 5520741 (the "2026" convention; its replication code's unit values are tests).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from statistics import NormalDist
from typing import Any, Iterable

import numpy as np

__all__ = [
    "DSR_REAL", "EULER_GAMMA", "PBO_OVERFIT", "Moments", "PBOResult", "dsr", "expected_max_normal",
    "expected_max_sharpe", "min_backtest_length", "min_trl", "moments", "ofdr", "pbo_cscv",
    "pfdr", "power", "psr",
    "returns_diagnostics", "sharpe", "sharpe_variance", "study_diagnostics", "trials_variance", "verdict",
]

EULER_GAMMA = 0.5772156649015329
CONVENTIONS = ("2012", "2026")
PBO_OVERFIT = 0.5     # PBO at or above: the selection does no better than a coin out of sample
PBO_POSSIBLE = 0.2    # PBO at or above: overfitting possible
DSR_REAL = 0.95       # DSR at or above: significant at 5 % after deflation
DSR_LUCK = 0.5        # DSR below: more likely luck than not
METRICS = ("sharpe", "mean")
# A standard deviation below this is floating-point noise (the threshold of backtestester.stats).
_ZERO_DISPERSION = 1e-14
_NORMAL = NormalDist()
_CHUNK = 2048  # CSCV splits computed at once (bounds memory at ~_CHUNK x N floats per array)


# --------------------------------------------------------------------------- #
# Input checks
# --------------------------------------------------------------------------- #


def _series(returns: Any, *, minimum: int = 2) -> np.ndarray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"returns must be a 1-D series of per-period returns, got shape {arr.shape}")
    if arr.size < minimum:
        raise ValueError(f"returns needs at least {minimum} periods, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError("returns contains NaN or infinite values: pass finite per-period returns")
    return arr


def _periods(periods: Any) -> int:
    if isinstance(periods, bool) or not float(periods).is_integer() or periods < 2:
        raise ValueError(f"periods (T, the number of returns) must be an integer >= 2, got {periods!r}")
    return int(periods)


def _convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
    return convention


def _check_moments(skew: float, kurtosis: float) -> None:
    if math.isfinite(skew) and math.isfinite(kurtosis) and kurtosis < 1.0 + skew * skew - 1e-9:
        raise ValueError(
            f"kurtosis must be Pearson kurtosis (3 for a normal, at least 1 + skew**2 = "
            f"{1 + skew * skew:.4g}), got {kurtosis!r}: an excess kurtosis needs + 3")


def _alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha (the test's significance level) must be in (0, 1), got {alpha!r}")
    return float(alpha)


def _n_trials(n_trials: Any) -> int:
    if isinstance(n_trials, bool) or not float(n_trials).is_integer() or n_trials < 1:
        raise ValueError(f"n_trials (every trial tried) must be an integer >= 1, got {n_trials!r}")
    return int(n_trials)


def _flat_ratio(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``mean / std``, with a flat series at 0 (mean 0) or +-inf (a constant gain or loss)."""
    flat = std <= _ZERO_DISPERSION
    if not flat.any():
        return mean / std
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mean / np.where(flat, 1.0, std)
    signed = np.where(np.abs(mean) <= _ZERO_DISPERSION, 0.0, np.copysign(np.inf, mean))
    return np.where(flat, signed, ratio)


# --------------------------------------------------------------------------- #
# Sharpe, moments, PSR, MinTRL, DSR
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Moments:
    """What PSR and DSR need of a return series: per-period Sharpe, skewness, Pearson kurtosis,
    the number of periods."""

    sharpe: float
    skew: float
    kurtosis: float
    periods: int


def sharpe(returns: Any) -> float:
    """Per-period Sharpe ratio ``mean(r) / std(r, ddof=1)`` (module docstring)."""
    r = _series(returns)
    return float(_flat_ratio(np.array(r.mean()), np.array(r.std(ddof=1))))


def moments(returns: Any) -> Moments:
    """Sharpe, skewness and Pearson kurtosis of ``returns`` (population moments); the moments of
    a flat series are ``nan``."""
    r = _series(returns)
    dev = r - r.mean()
    m2 = float(np.mean(dev**2))
    if m2 <= _ZERO_DISPERSION**2:
        return Moments(sharpe(r), math.nan, math.nan, r.size)
    skew = float(np.mean(dev**3)) / m2**1.5
    kurt = float(np.mean(dev**4)) / m2**2
    return Moments(sharpe(r), skew, kurt, r.size)


def _v1(sr: float, skew: float, kurtosis: float) -> float:
    return 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr


def sharpe_variance(sr: float, periods: int, skew: float = 0.0, kurtosis: float = 3.0, *,
                    convention: str = "2012") -> float:
    """Variance of the per-period Sharpe estimator at ``sr`` (Mertens): ``v1(sr) / (T - 1)``
    (2012) or ``v1(sr) / T`` (2026)."""
    t = _periods(periods)
    _check_moments(skew, kurtosis)
    return _v1(sr, skew, kurtosis) / (t - 1 if _convention(convention) == "2012" else t)


def psr(sr: float, sr_star: float, periods: int, skew: float = 0.0, kurtosis: float = 3.0, *,
        convention: str = "2012") -> float:
    """Probabilistic Sharpe Ratio: the probability that the true per-period Sharpe exceeds
    ``sr_star``, given ``sr`` measured over ``periods`` returns with these moments."""
    at = sr if _convention(convention) == "2012" else sr_star
    var = sharpe_variance(at, periods, skew, kurtosis, convention=convention)
    if not all(math.isfinite(x) for x in (sr, sr_star, var)):
        return math.nan
    if var <= 0.0:
        return 1.0 if sr > sr_star else 0.0 if sr < sr_star else 0.5
    return _NORMAL.cdf((sr - sr_star) / math.sqrt(var))


def min_trl(sr: float, sr_star: float = 0.0, skew: float = 0.0, kurtosis: float = 3.0,
            alpha: float = 0.05, *, convention: str = "2012") -> float:
    """Minimum Track Record Length: the number of periods needed for ``sr`` to beat ``sr_star``
    at significance ``alpha``; ``inf`` if ``sr <= sr_star``."""
    z = _NORMAL.inv_cdf(1.0 - _alpha(alpha))
    _check_moments(skew, kurtosis)
    _convention(convention)
    if not (math.isfinite(sr) and math.isfinite(sr_star)):
        return math.nan
    if sr <= sr_star:
        return math.inf
    ratio = (z / (sr - sr_star)) ** 2
    if convention == "2012":
        return 1.0 + _v1(sr, skew, kurtosis) * ratio
    return _v1(sr_star, skew, kurtosis) * ratio


def power(sr0: float, sr1: float, periods: int, skew: float = 0.0, kurtosis: float = 3.0,
          alpha: float = 0.05) -> float:
    """The test's power ``1 - beta`` against the alternative ``sr1`` (2026 convention): the
    probability that a strategy whose true per-period Sharpe is ``sr1`` clears the critical
    value ``SR_c = sr0 + z * sigma(sr0)``, i.e. ``1 - Phi((SR_c - sr1) / sigma(sr1))``."""
    z = _NORMAL.inv_cdf(1.0 - _alpha(alpha))
    critical = sr0 + z * math.sqrt(sharpe_variance(sr0, periods, skew, kurtosis, convention="2026"))
    spread = math.sqrt(sharpe_variance(sr1, periods, skew, kurtosis, convention="2026"))
    return 1.0 - _NORMAL.cdf((critical - sr1) / spread)


def _probability(value: float, name: str, what: str) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} ({what}) must be in (0, 1), got {value!r}")
    return float(value)


def pfdr(power: float, p1: float, alpha: float = 0.05) -> float:
    """Planned false discovery rate (2026): the share of strategies passing the test at
    ``alpha`` with this ``power`` that are false, when a share ``p1`` of candidates has skill:
    ``1 / (1 + power * p1 / (alpha * (1 - p1)))``."""
    _probability(power, "power", "1 - beta")
    _probability(p1, "p1", "the prior share of strategies with skill")
    return 1.0 / (1.0 + power * p1 / (_alpha(alpha) * (1.0 - p1)))


def ofdr(sr: float, sr0: float, sr1: float, periods: int, skew: float = 0.0,
         kurtosis: float = 3.0, p1: float = 0.05) -> float:
    """Observed false discovery rate (2026): the posterior probability that ``sr`` comes from
    the null ``sr0`` rather than the alternative ``sr1``, with ``p0' = 1 - PSR(sr0)`` and
    ``p1' = 1 - PSR(sr1)`` (2026 convention): ``p0'(1 - p1) / (p0'(1 - p1) + p1' p1)``."""
    _probability(p1, "p1", "the prior share of strategies with skill")
    null = (1.0 - psr(sr, sr0, periods, skew, kurtosis, convention="2026")) * (1.0 - p1)
    alternative = (1.0 - psr(sr, sr1, periods, skew, kurtosis, convention="2026")) * p1
    return null / (null + alternative)


def expected_max_normal(n_trials: int) -> float:
    """The approximation of the expected maximum of ``n_trials`` independent standard normals,
    ``(1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e))`` (0 for one trial)."""
    n = _n_trials(n_trials)
    if n == 1:
        return 0.0
    return ((1.0 - EULER_GAMMA) * _NORMAL.inv_cdf(1.0 - 1.0 / n)
            + EULER_GAMMA * _NORMAL.inv_cdf(1.0 - 1.0 / (n * math.e)))


def trials_variance(sharpes: Iterable[float], *, ddof: int = 1) -> float:
    """Variance across trials of their per-period Sharpes (finite ones only; ``nan`` if fewer
    than ``ddof + 1``).  ``ddof=0`` reproduces mlfinlab's DSR test value."""
    s = np.asarray(list(sharpes), dtype=np.float64)
    s = s[np.isfinite(s)]
    return float(np.var(s, ddof=ddof)) if s.size > ddof else math.nan


def expected_max_sharpe(n_trials: int, trials_variance: float, mean: float = 0.0) -> float:
    """SR0: the expected maximum per-period Sharpe of ``n_trials`` trials whose Sharpes have this
    variance and ``mean`` (0: zero skill)."""
    if trials_variance < 0:
        raise ValueError(f"trials_variance must be a variance >= 0, got {trials_variance!r}")
    factor = expected_max_normal(n_trials)
    return mean + math.sqrt(trials_variance) * factor if factor else float(mean)


def dsr(sr: float, periods: int, *, n_trials: int, trials_variance: float, skew: float = 0.0,
        kurtosis: float = 3.0, convention: str = "2012") -> float:
    """Deflated Sharpe Ratio: :func:`psr` against SR0 of ``n_trials`` (every trial tried, pruned
    and failed included) with this variance of the trials' per-period Sharpes."""
    sr0 = expected_max_sharpe(n_trials, trials_variance)
    return psr(sr, sr0, periods, skew, kurtosis, convention=convention)


def min_backtest_length(n_trials: int, expected_max: float) -> float:
    """MinBTL in years: the history needed so that the best of ``n_trials`` zero-skill trials is
    not expected to show an annualised in-sample Sharpe of ``expected_max``."""
    if not expected_max > 0:
        raise ValueError(f"expected_max (an annualised Sharpe) must be > 0, got {expected_max!r}")
    return (expected_max_normal(n_trials) / expected_max) ** 2


# --------------------------------------------------------------------------- #
# PBO by combinatorially symmetric cross-validation
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class PBOResult:
    """The outcome of :func:`pbo_cscv`; arrays have one entry per split, in
    :func:`itertools.combinations` order of the in-sample blocks."""

    pbo: float
    logits: np.ndarray      # lambda per split
    best_trial: np.ndarray  # n*: the column with the best in-sample metric
    is_best: np.ndarray     # the in-sample metric of n*
    oos_best: np.ndarray    # its out-of-sample metric (with is_best: the degradation pairs)
    slope: float            # least-squares slope of oos_best on is_best (nan if undefined)
    intercept: float
    prob_oos_loss: float    # share of splits with oos_best < 0
    blocks: int             # S
    metric: str


def _pbo_matrix(returns: Any, s: int, metric: str) -> np.ndarray:
    m = np.asarray(returns, dtype=np.float64)
    if m.ndim != 2:
        raise ValueError(f"returns must be a T x N matrix (periods x trials), got shape {m.shape}")
    t, n = m.shape
    if n < 2:
        raise ValueError(f"PBO needs at least 2 trials (columns), got {n}")
    if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 2 or s % 2:
        raise ValueError(f"S (the number of blocks) must be an even integer >= 2, got {s!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    least = s if metric == "mean" else max(s, 4)  # a Sharpe needs 2 periods per half
    if t < least:
        raise ValueError(f"PBO with S = {s} blocks and the {metric} metric needs at least {least} "
                         f"periods (rows), got {t}")
    if not np.isfinite(m).all():
        raise ValueError("returns contains NaN or infinite values: give every trial a finite return "
                         "for every period (0 where it held nothing)")
    return m


def _split_metrics(mask: np.ndarray, blocks: np.ndarray, col_mean: np.ndarray,
                   metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(IS, OOS) metric of every column for every split in ``mask`` (splits x S, 1 = IS).
    ``blocks`` holds per block (rows): its row count, then the column sums, then the column sums
    of squares, of the returns centred on each column's mean (for precision)."""
    n = col_mean.size
    inside = np.einsum("cs,sk->ck", mask, blocks)  # einsum: no BLAS threads (slower here)
    out = []
    for side in (inside, blocks.sum(axis=0) - inside):
        k, total, squares = side[:, :1], side[:, 1:n + 1], side[:, n + 1:]
        mean = total / k + col_mean
        if metric == "mean":
            out.append(mean)
            continue
        var = np.maximum(squares - total * total / k, 0.0) / (k - 1.0)
        out.append(_flat_ratio(mean, np.sqrt(var)))
    return out[0], out[1]


def _logits(is_metric: np.ndarray, oos_metric: np.ndarray) -> tuple[np.ndarray, ...]:
    rows = np.arange(is_metric.shape[0])
    best = np.argmax(is_metric, axis=1)
    oos = oos_metric[rows, best]
    below = (oos_metric < oos[:, None]).sum(axis=1)
    ties = (oos_metric == oos[:, None]).sum(axis=1)
    rank = below + (ties + 1) / 2.0  # 1 = worst; ties share their average rank
    n = is_metric.shape[1]
    return np.log(rank) - np.log(n + 1.0 - rank), best, is_metric[rows, best], oos


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.ptp(x) <= _ZERO_DISPERSION:
        return math.nan, math.nan
    dx = x - x.mean()
    slope = float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))
    return slope, float(y.mean() - slope * x.mean())


def pbo_cscv(returns: Any, s: int = 16, metric: str = "sharpe") -> PBOResult:
    """Probability of Backtest Overfitting of choosing the best of N trials, by CSCV.

    Args:
        returns: T x N per-period out-of-sample returns, one column per trial (finite; 0 for a
            period a trial held nothing).
        s: The number of contiguous blocks ``S`` (even; C(S, S/2) splits: 12,870 for 16).
        metric: ``"sharpe"`` (per-period Sharpe) or ``"mean"`` (mean return).
    """
    m = _pbo_matrix(returns, s, metric)
    t = m.shape[0]
    sizes = t // s + (np.arange(s) < t % s)  # numpy.array_split's cut: the first T mod S get one more
    edges = np.concatenate(([0], np.cumsum(sizes)))
    col_mean = m.mean(axis=0)
    centred = m - col_mean
    blocks = np.hstack([np.diff(edges)[:, None].astype(np.float64),
                        np.add.reduceat(centred, edges[:-1], axis=0),
                        np.add.reduceat(centred * centred, edges[:-1], axis=0)])
    # The i-th split of combinations order is the complement of the (C - 1 - i)-th: the first
    # half's metrics, read IS/OOS and then OOS/IS, give every split.
    chosen = np.array(list(combinations(range(s), s // 2)))
    chosen = chosen[: len(chosen) // 2]
    first, second = [], []
    for start in range(0, len(chosen), _CHUNK):
        part = chosen[start:start + _CHUNK]
        mask = np.zeros((len(part), s))
        mask[np.arange(len(part))[:, None], part] = 1.0
        one, other = _split_metrics(mask, blocks, col_mean, metric)
        first.append(_logits(one, other))
        second.append(_logits(other, one))
    logits, best, is_best, oos_best = (
        np.concatenate([*a, *(x[::-1] for x in reversed(b))]) for a, b in zip(zip(*first), zip(*second)))
    slope, intercept = _slope(is_best, oos_best)
    return PBOResult(float(np.mean(logits <= 0.0)), logits, best, is_best, oos_best, slope,
                     intercept, float(np.mean(oos_best < 0.0)), s, metric)


# --------------------------------------------------------------------------- #
# Verdict and a study's summary
# --------------------------------------------------------------------------- #


def _pbo_text(pbo: float) -> str:
    if not math.isfinite(pbo):
        return "PBO undefined"
    if pbo >= PBO_OVERFIT:
        return f"likely overfit: PBO {pbo:.2f}"
    if pbo >= PBO_POSSIBLE:
        return f"overfitting possible: PBO {pbo:.2f}"
    return f"selection holds out of sample: PBO {pbo:.2f}"


def _dsr_text(value: float, n_trials: int | None) -> str:
    trials = f" ({n_trials} trials)" if n_trials else ""
    if not math.isfinite(value):
        return f"DSR undefined{trials}"
    if value >= DSR_REAL:
        return f"the best Sharpe is probably real: DSR {value:.2f}{trials}"
    if value >= DSR_LUCK:
        return f"the best Sharpe is not significant after the search: DSR {value:.2f}{trials}"
    return f"the best Sharpe is probably luck: DSR {value:.2f}{trials}"


def verdict(pbo: float | None = None, dsr: float | None = None, n_trials: int | None = None) -> str:
    """One plain-language line from the PBO and the DSR (thresholds in the module docstring),
    e.g. ``"likely overfit: PBO 0.62; the best Sharpe is probably luck: DSR 0.31 (200 trials)"``."""
    parts = []
    if pbo is not None:
        parts.append(_pbo_text(float(pbo)))
    if dsr is not None:
        parts.append(_dsr_text(float(dsr), n_trials))
    if not parts:
        return "no diagnostics: they need the out-of-sample returns of at least 2 trials"
    return "; ".join(parts)


def returns_diagnostics(best_returns: Any, trial_sharpes: Iterable[float], n_trials: int, *,
                        oos_matrix: Any = None, s: int = 16, sr_star: float = 0.0,
                        alpha: float = 0.05) -> dict[str, Any]:
    """Every diagnostic of a finished study from its returns (:func:`study_diagnostics` takes
    the trials' outcomes).

    Args:
        best_returns: The selected trial's per-period out-of-sample returns.
        trial_sharpes: Per-period Sharpes of the trials that produced returns (not annualised).
        n_trials: Every trial tried: completed, pruned and failed (>= len(trial_sharpes)).
        oos_matrix: T x N per-period OOS returns of the trials for PBO (None: no PBO).
        s, sr_star, alpha: CSCV blocks, PSR/MinTRL benchmark (per period), MinTRL significance.

    Returns a dict: sharpe, skew, kurtosis, periods (of the best), psr, min_trl, n_trials,
    trials_variance, sr0, dsr, pbo (nan without ``oos_matrix``), pbo_slope, prob_oos_loss,
    verdict.
    """
    sharpes = [float(x) for x in trial_sharpes]
    n = _n_trials(n_trials)
    finite = sum(math.isfinite(x) for x in sharpes)
    if n < finite:
        raise ValueError(f"n_trials counts every trial tried (pruned and failed included), so it is at "
                         f"least the {finite} finite Sharpes given, got {n_trials}")
    m = moments(best_returns)
    variance = trials_variance(sharpes)
    sr0 = expected_max_sharpe(n, variance) if math.isfinite(variance) else math.nan
    deflated = psr(m.sharpe, sr0, m.periods, m.skew, m.kurtosis) if math.isfinite(sr0) else math.nan
    pbo = pbo_cscv(oos_matrix, s) if oos_matrix is not None else None
    return {
        "sharpe": m.sharpe, "skew": m.skew, "kurtosis": m.kurtosis, "periods": m.periods,
        "psr": psr(m.sharpe, sr_star, m.periods, m.skew, m.kurtosis),
        "min_trl": min_trl(m.sharpe, sr_star, m.skew, m.kurtosis, alpha),
        "n_trials": n, "trials_variance": variance, "sr0": sr0, "dsr": deflated,
        "pbo": pbo.pbo if pbo else math.nan, "pbo_slope": pbo.slope if pbo else math.nan,
        "prob_oos_loss": pbo.prob_oos_loss if pbo else math.nan,
        "verdict": verdict(pbo.pbo if pbo else None, deflated, n),
    }


def _trial_series(outcome: Any) -> tuple[np.ndarray, np.ndarray | None]:
    returns = [np.asarray(r, dtype=np.float64) for r in getattr(outcome, "oos_returns", [])]
    times = [np.asarray(t, dtype=np.int64) for t in getattr(outcome, "oos_times", []) or []]
    return (np.concatenate(returns) if returns else np.empty(0),
            np.concatenate(times) if times and len(times) == len(returns) else None)


def study_diagnostics(outcomes: Iterable[Any], best: Any, *, s: int = 16, sr_star: float = 0.0,
                      alpha: float = 0.05) -> dict[str, Any]:
    """:func:`returns_diagnostics` of a study's trial outcomes (``TrialOutcome``: ``state``,
    ``oos_returns`` and ``oos_times`` per fold), as ``StudyResult.diagnostics`` records them.

    ``N`` is every outcome (complete, pruned and failed); the trials' Sharpes and the PBO matrix
    come from the complete trials whose out-of-sample periods are the best's (folds stitched).
    A study that cannot give a diagnostic says why under ``"notes"`` instead of raising: PBO is
    ``nan`` with fewer than 2 such trials or too few periods for ``s`` blocks."""
    outcomes = list(outcomes)
    best_returns, best_times = _trial_series(best)
    notes: list[str] = []
    if best_returns.size < 2 or not np.isfinite(best_returns).all():
        return {"n_trials": len(outcomes), "notes": ["the best trial has fewer than 2 finite "
                "out-of-sample returns"], "verdict": verdict()}
    sharpes, columns = [], []
    for outcome in outcomes:
        returns, times = _trial_series(outcome)
        if getattr(outcome, "state", "complete") != "complete" or returns.shape != best_returns.shape:
            continue
        if not np.isfinite(returns).all() or (times is not None and best_times is not None
                                              and not np.array_equal(times, best_times)):
            continue
        sharpes.append(sharpe(returns))
        columns.append(returns)
    matrix = np.column_stack(columns) if len(columns) >= 2 else None
    if matrix is None:
        notes.append("PBO needs at least 2 complete trials over the same out-of-sample periods")
    elif matrix.shape[0] < max(s, 4):
        notes.append(f"PBO with S = {s} blocks needs at least {max(s, 4)} out-of-sample periods, "
                     f"the study has {matrix.shape[0]}")
        matrix = None
    out = returns_diagnostics(best_returns, sharpes, max(len(outcomes), len(sharpes)),
                              oos_matrix=matrix, s=s, sr_star=sr_star, alpha=alpha)
    return {**out, "notes": notes}
