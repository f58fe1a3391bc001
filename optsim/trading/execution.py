"""The fill step: what the routed venue does with an order.

``Execution`` is the interface the order desk calls and ``Report`` what a venue answers; the
implementation is ``venue_sim.FillsimExecution`` (queue position, latency, partial fills, packages).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .router import Route
from ..domain.spec import OrderSpec


@dataclass(frozen=True, slots=True)
class Report:
    """One thing a venue did to an order, in the order it happened."""

    order_id: str
    kind: str  # "fill", "cancelled", "expired", "rejected", "cancel_rejected", "modify_rejected"
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

    def modify(self, order_id: str, spec: OrderSpec, leaves: int) -> list[Report]:
        """Cancel/replace to ``spec``'s price with ``leaves`` still to fill; "modify_rejected" if nothing is live."""

    def restore(self, order_id: str, spec: OrderSpec, venue: str, leaves: int) -> None:
        """Put a working order back on its venue after a restart (it rejoins at the back of the queue)."""

    def forget(self, order_id: str) -> None:
        """Take an order off its venue without a report: its store write was rolled back."""

    def on_market(self) -> list[Report]: ...

    def queue_ahead(self, order_id: str) -> float | None: ...
