"""A parsed /metrics scrape: samples by name and labels, counter deltas and histogram quantiles."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Labels = dict[str, str]


@dataclass(frozen=True)
class Scrape:
    """Every finite sample (NaN and ±Inf dropped) of one scrape, grouped by sample name (``optsim_orders_total``, ``..._bucket``)."""

    samples: dict[str, list[tuple[Labels, float]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "Scrape":
        """Raises ValueError for text that is not Prometheus exposition format."""
        samples: dict[str, list[tuple[Labels, float]]] = {}
        try:
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if isinstance(sample.value, (int, float)) and math.isfinite(sample.value):
                        samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
        except Exception as exc:  # the parser raises ValueError, IndexError, ... on garbage
            raise ValueError(f"unparsable metrics: {exc}") from exc
        return cls(samples)

    def series(self, name: str, **labels: str) -> list[tuple[Labels, float]]:
        return [(lab, v) for lab, v in self.samples.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]

    def value(self, name: str, **labels: str) -> float | None:
        found = self.series(name, **labels)
        return found[0][1] if found else None

    def total(self, name: str, **labels: str) -> float | None:
        """Sum over every series of ``name`` matching ``labels``; None when the metric is absent."""
        if name not in self.samples:
            return None
        return sum(v for _, v in self.series(name, **labels))

    def buckets(self, name: str) -> dict[float, float]:
        """Cumulative histogram buckets ``{le: count}`` summed over every other label."""
        out: dict[float, float] = {}
        for lab, v in self.samples.get(f"{name}_bucket", []):
            try:
                le = float(lab["le"])
            except (KeyError, ValueError):
                continue
            out[le] = out.get(le, 0.0) + v
        return out


def counter_delta(prev: Scrape, cur: Scrape, name: str, **labels: str) -> float | None:
    """Increase between two scrapes; None when either lacks the metric or the counter was reset."""
    before, after = prev.total(name, **labels), cur.total(name, **labels)
    if before is None or after is None or after < before:
        return None
    return after - before


def bucket_deltas(prev: Scrape, cur: Scrape, name: str) -> list[tuple[float, float]] | None:
    """Per-bucket increase, sorted by ``le``; None after a reset or when the histogram is missing."""
    before, after = prev.buckets(name), cur.buckets(name)
    if not after:
        return None
    deltas = []
    for le in sorted(after):
        d = after[le] - before.get(le, 0.0)
        if d < 0:
            return None
        deltas.append((le, d))
    return deltas


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus ``histogram_quantile`` over cumulative ``(le, count)`` pairs sorted by ``le``.

    Linear interpolation inside the bucket holding the rank; the first bucket starts at 0; a rank in
    the ``+Inf`` bucket answers the highest finite bound. None when there are no observations.
    """
    if not buckets or not math.isinf(buckets[-1][0]):
        return None
    total = buckets[-1][1]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for i, (le, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(le):
                return buckets[i - 1][0] if i else None
            if i == 0 and le <= 0:
                return le
            span = count - prev_count
            return prev_le + (le - prev_le) * ((rank - prev_count) / span if span else 1.0)
        prev_le, prev_count = le, count
    return None
