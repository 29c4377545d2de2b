"""Spread statistics of responses per container: counts, max deviation from the mean, chi-square p-value.
Pure Python (regularised upper incomplete gamma for the p-value)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    counts: dict[str, int]  # container hostname -> responses
    total: int
    failed: int
    mean: float
    max_deviation_pct: float  # max |count - mean| / mean * 100
    chi_square: float
    dof: int
    p_value: float

    def rows(self) -> list[dict[str, object]]:
        return [{"container": k, "responses": v, "deviation_pct": round((v - self.mean) / self.mean * 100, 2)}
                for k, v in sorted(self.counts.items())]


def spread(answers: Iterable[str | None]) -> Spread:
    """``answers``: one container hostname per successful request, None per failed one."""
    c: Counter[str] = Counter()
    failed = 0
    for a in answers:
        if a is None:
            failed += 1
        else:
            c[a] += 1
    return spread_from_counts(dict(c), failed)


def spread_from_counts(counts: Mapping[str, int], failed: int = 0) -> Spread:
    total = sum(counts.values())
    k = len(counts)
    if k == 0:
        return Spread({}, 0, failed, 0.0, 100.0, 0.0, 0, 0.0)
    mean = total / k
    dev = max(abs(v - mean) for v in counts.values()) / mean * 100 if mean else 0.0
    chi = sum((v - mean) ** 2 / mean for v in counts.values()) if mean else 0.0
    dof = k - 1
    p = chi2_sf(chi, dof) if dof > 0 else 1.0
    return Spread(dict(counts), total, failed, mean, dev, chi, dof, p)


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for a chi-square distribution with ``dof`` degrees of freedom."""
    if x <= 0:
        return 1.0
    return gammaincc(dof / 2.0, x / 2.0)


def gammaincc(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x): series below a+1, Lentz continued fraction above."""
    if x < 0 or a <= 0:
        raise ValueError("gammaincc needs a > 0 and x >= 0")
    if x == 0:
        return 1.0
    lg = math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(10_000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - lg))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(-x + a * math.log(x) - lg) * h)
