"""Automatic kill-switch trips: the loss, runaway and limit conditions that stop trading by themselves.

Judged on the service's poll thread (``OrderDesk.poll``), never on the order path: the order path only
counts orders and rejects. A trip fires once when its condition starts to hold and the trading state is
less strict than its action; it re-arms when the condition clears. So an operator who releases the
kill switch after a trip is not overruled at the next poll, but the next breach trips again.

Causes (``Trip.cause``, the incident's dedup key ``risk_trip:<cause>``):

============  =========================================================================
daily_loss    net PnL (realized + unrealized at the NBBO mid - fees) <= -trips.daily_loss_limit
drawdown      the day's high of net PnL minus net PnL >= trips.drawdown_limit
reject_rate   rejected / orders over trips.window_s >= trips.reject_rate (with enough orders)
order_rate    orders/s over trips.window_s >= trips.max_order_rate
limit_breach  a position or Greek limit over 100% on fills and marks (pre-trade checks stop orders)
============  =========================================================================
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..config import TripsConfig

STRICTNESS = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}
#: Rejects that come from the trading state itself: counting them would re-trip a halted desk.
STATE_REJECTS = ("HALTED", "REDUCE_ONLY")


def _usd(amount: float) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


@dataclass(frozen=True)
class Trip:
    cause: str
    action: str  # the trading state it sets: HALTED or REDUCING
    summary: str
    details: dict = field(default_factory=dict)


class TripWire:
    def __init__(self, config: TripsConfig):
        self.cfg = config
        self.orders = 0  # orders that reached the desk, accepted or rejected (bumped on the order path: one add)
        self.rejects = 0  # of which rejected, not counting STATE_REJECTS
        self.high: float | None = None  # the day's high of net PnL
        self._samples: deque[tuple[float, int, int]] = deque()  # (poll time, orders, rejects)
        self._armed: dict[str, bool] = {}

    def on_order(self, reject_reason: str | None) -> None:
        self.orders += 1
        if reject_reason is not None and reject_reason not in STATE_REJECTS:
            self.rejects += 1

    def loss_use(self, net_pnl: float) -> dict[str, float]:
        """Utilization of the loss limits (0 when a limit is off), as risk_utilization reports them."""
        self.high = net_pnl if self.high is None else max(self.high, net_pnl)
        cfg = self.cfg
        return {"daily_loss": max(0.0, -net_pnl) / cfg.daily_loss_limit if cfg.daily_loss_limit else 0.0,
                "drawdown": (self.high - net_pnl) / cfg.drawdown_limit if cfg.drawdown_limit else 0.0}

    def evaluate(self, now: float, net_pnl: float, utilization: dict[str, float], state: str) -> list[Trip]:
        """The trips that fire at this poll, strictest first."""
        cfg = self.cfg
        loss = self.loss_use(net_pnl)
        held: dict[str, Trip | None] = {
            "daily_loss": Trip("daily_loss", cfg.loss_action,
                               f"daily loss limit: net PnL {_usd(net_pnl)} is past -${cfg.daily_loss_limit:,.0f}",
                               {"net_pnl": round(net_pnl, 2), "limit": cfg.daily_loss_limit})
            if cfg.daily_loss_limit and loss["daily_loss"] >= 1.0 else None,
            "drawdown": Trip("drawdown", cfg.loss_action,
                             f"drawdown limit: net PnL {_usd(net_pnl)} is ${self.high - net_pnl:,.2f} below the "
                             f"day's high {_usd(self.high)} (limit ${cfg.drawdown_limit:,.0f})",
                             {"net_pnl": round(net_pnl, 2), "high": round(self.high, 2),
                              "drawdown": round(self.high - net_pnl, 2), "limit": cfg.drawdown_limit})
            if cfg.drawdown_limit and loss["drawdown"] >= 1.0 else None,
            **self._rates(now),
            "limit_breach": self._breach(utilization) if cfg.limit_breach else None,
        }
        fired = []
        for cause, trip in held.items():
            if trip is None:
                self._armed[cause] = True
            elif STRICTNESS[trip.action] <= STRICTNESS[state]:
                self._armed[cause] = False  # already as strict (say, halted before a restart): nothing to do
            elif self._armed.get(cause, True):
                self._armed[cause] = False
                fired.append(trip)
        return sorted(fired, key=lambda t: -STRICTNESS[t.action])

    def _rates(self, now: float) -> dict[str, Trip | None]:
        cfg = self.cfg
        self._samples.append((now, self.orders, self.rejects))
        while len(self._samples) > 1 and now - self._samples[1][0] >= cfg.window_s:
            self._samples.popleft()  # keep one sample at or before the window's start
        start, orders0, rejects0 = self._samples[0]
        span, orders, rejects = now - start, self.orders - orders0, self.rejects - rejects0
        out: dict[str, Trip | None] = {"reject_rate": None, "order_rate": None}
        if cfg.reject_rate and orders >= cfg.reject_rate_min_orders and rejects / orders >= cfg.reject_rate:
            out["reject_rate"] = Trip("reject_rate", cfg.runaway_action,
                                      f"reject-rate runaway: {rejects} of {orders} orders rejected in {span:.1f}s "
                                      f"(limit {cfg.reject_rate:.0%})",
                                      {"orders": orders, "rejected": rejects, "window_s": round(span, 3),
                                       "limit": cfg.reject_rate})
        rate = orders / span if span >= min(1.0, cfg.window_s) else 0.0
        if cfg.max_order_rate and rate >= cfg.max_order_rate:
            out["order_rate"] = Trip("order_rate", cfg.runaway_action,
                                     f"order-rate runaway: {rate:,.0f} orders/s over {span:.1f}s "
                                     f"(limit {cfg.max_order_rate:,.0f}/s)",
                                     {"orders": orders, "window_s": round(span, 3), "rate": round(rate, 1),
                                      "limit": cfg.max_order_rate})
        return out

    def _breach(self, utilization: dict[str, float]) -> Trip | None:
        over = {k: v for k, v in utilization.items() if v > 1.0 and k not in ("daily_loss", "drawdown")}
        if not over:
            return None
        worst = max(over, key=over.__getitem__)
        return Trip("limit_breach", self.cfg.breach_action,
                    f"{worst} limit breached on fills and marks: {over[worst]:.0%} of its cap",
                    {"limits": {k: round(v, 4) for k, v in over.items()}, "worst": worst})

    def reset_rates(self, now: float) -> None:
        """Start the order window again at ``now`` (after a release, orders rejected while halted are history):
        the counts at the release are the baseline, so a burst right after it is judged at the next poll."""
        self._samples.clear()
        self._samples.append((now, self.orders, self.rejects))
