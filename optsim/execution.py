"""The fill step: what the routed venue does with an order.

``Execution`` is the interface the order desk calls; ``ImmediateExecution`` fills a marketable order
in full at the routed venue's quote and leaves the rest resting untouched. It is the stand-in the
fillsim-backed venue replaces (queue position, latency, partial fills).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from .router import Route
from .spec import OrderSpec


@dataclass(frozen=True, slots=True)
class Report:
    """One thing a venue did to an order, in the order it happened."""

    order_id: str
    kind: str  # "fill", "cancelled", "expired", "cancel_rejected"
    leg_no: int = 0
    price: float = 0.0
    qty: int = 0  # contracts of this leg (fills)
    packages: int = 0  # package quantity this report completes (fills of the last leg; single = qty)
    liquidity: str = "taker"  # maker | taker
    exch_ts_ns: int | None = None
    local_ts_ns: int | None = None
    queue_ahead: float | None = None


class Execution(Protocol):
    engine: str  # which fill engine runs ("immediate", "cython", "python") — reported by /health

    def submit(self, order_id: str, spec: OrderSpec, route: Route) -> list[Report]: ...

    def cancel(self, order_id: str) -> list[Report]: ...

    def restore(self, order_id: str, spec: OrderSpec, venue: str, leaves: int) -> None:
        """Put a working order back on its venue after a restart (it rejoins at the back of the queue)."""

    def on_market(self) -> list[Report]: ...

    def queue_ahead(self, order_id: str) -> float | None: ...


class ImmediateExecution:
    """Marketable orders fill in full at the venue's touch; the rest rest; IOC remainders expire."""

    engine = "immediate"

    def __init__(self) -> None:
        self._resting: set[str] = set()

    def submit(self, order_id: str, spec: OrderSpec, route: Route) -> list[Report]:
        now = time.time_ns()
        if route.marketable:
            reports = []
            for i, (leg, q) in enumerate(zip(spec.legs, route.legs)):
                price = q.ask if leg.side == "BUY" else q.bid
                reports.append(Report(order_id, "fill", i, price, leg.qty, spec.qty if i == len(spec.legs) - 1 else 0,
                                      "taker", now, now))
            return reports
        if spec.time_in_force == "IOC":
            return [Report(order_id, "expired", exch_ts_ns=now, local_ts_ns=now)]
        self._resting.add(order_id)
        return []

    def cancel(self, order_id: str) -> list[Report]:
        if order_id in self._resting:
            self._resting.discard(order_id)
            return [Report(order_id, "cancelled", exch_ts_ns=time.time_ns())]
        return [Report(order_id, "cancel_rejected")]

    def restore(self, order_id: str, spec: OrderSpec, venue: str, leaves: int) -> None:
        self._resting.add(order_id)

    def on_market(self) -> list[Report]:
        return []

    def queue_ahead(self, order_id: str) -> float | None:
        return None
