"""The desk's views of what it holds: ``GET /positions`` (per account and series) and ``GET /risk`` (limits).

Both read the order desk's in-memory books in order with the fills (on its sequencer), then mark and price
outside it, so a refresh never holds up an order for longer than a copy.
"""
from __future__ import annotations

import dataclasses

from ..domain.occ import parse_symbol
from ..timefmt import rfc3339

MONEY = 2  # $ figures are rounded to the cent, once, at the edge


def positions_view(desk, account: str | None = None) -> dict:
    """Every position with a fill (closed ones too: their realized PnL counts), per account with totals."""
    desk.quotes.pull()
    held = desk.in_order(lambda db: [dataclasses.replace(p) for p in desk.book.positions.values()
                                           if account is None or p.account == account])
    rows, totals = [], {}
    for pos in sorted(held, key=lambda p: (p.account, p.symbol)):
        row = _row(desk, pos)
        rows.append(row)
        acc = totals.setdefault(pos.account, _zero())
        for key in acc:
            acc[key] += row["_raw"][key]
    for row in rows:
        row.pop("_raw")
    firm = _zero()
    for acc in totals.values():
        for key in firm:
            firm[key] += acc[key]
    return {"positions": rows, "count": len(rows),
            "accounts": [{"account": a, **_rounded(t)} for a, t in sorted(totals.items())],
            "total": _rounded(firm)}


def _zero() -> dict:
    return dict.fromkeys(("realized_pnl", "unrealized_pnl", "fees", "net_pnl", "delta", "dollar_delta", "gamma",
                          "vega", "theta"), 0.0)


def _rounded(t: dict) -> dict:
    return {k: round(v, MONEY) for k, v in t.items()}


def _row(desk, pos) -> dict:
    sym = parse_symbol(pos.symbol)
    mark, source = desk.book.mark(pos)
    unrealized = desk.book.unrealized(pos, mark) if pos.qty else 0.0
    g = desk.risk.greeks(pos.symbol) if pos.qty else None
    raw = {"realized_pnl": pos.realized, "unrealized_pnl": unrealized, "fees": pos.fees,
           "net_pnl": pos.realized + unrealized - pos.fees,
           "delta": g.delta * pos.qty if g else 0.0, "dollar_delta": g.delta * pos.qty * g.spot if g else 0.0,
           "gamma": g.gamma * pos.qty if g else 0.0, "vega": g.vega * pos.qty if g else 0.0,
           "theta": g.theta * pos.qty if g else 0.0}
    return {"account": pos.account, "occ_symbol": pos.symbol, "underlying": pos.underlying,
            "expiry": sym.expiry.isoformat(), "strike": float(sym.strike), "option_type": sym.right,
            "qty": pos.qty, "multiplier": pos.multiplier, "avg_price": round(pos.avg_price, 6) if pos.qty else None,
            "mark": round(mark, 6), "mark_source": source,
            "market_value": round(pos.qty * mark * pos.multiplier, MONEY), **_rounded(raw), "_raw": raw}


def risk_view(desk) -> dict:
    """Trading state, every limit's use (exposure, loss), per account and underlying, the latest order refused
    for each exposure limit (``breaches``), and the trips' settings."""
    desk.quotes.pull()

    def read(db):  # a consistent copy in order with the orders; the report is built off the writer's turn
        return desk.risk.exposure.copy(), desk.book.net_pnl(), dict(desk.trading), dict(desk.breaches)

    exposure, net_pnl, trading, breaches = desk.in_order(read)
    accounts = desk.risk.exposure_report(exposure)
    loss = desk.trips.loss_use(net_pnl)
    trips = desk.config.trips
    utilization = {name: 0.0 for name in ("credit", "position", "delta", "vega", "portfolio_delta",
                                          "portfolio_vega")}
    for acc in accounts:
        for name, use in acc["limits"].items():
            utilization[name] = max(utilization[name], use["utilization"])
    utilization.update({k: round(v, 6) for k, v in loss.items()})
    return {
        "trading_state": {**trading, "since": rfc3339(trading["ts"]) if trading.get("ts") else None},
        "utilization": utilization,
        "pnl": {"net_pnl": round(net_pnl, MONEY), "day_high": round(desk.trips.high or 0.0, MONEY),
                "daily_loss": {"used": round(max(0.0, -net_pnl), MONEY), "limit": trips.daily_loss_limit,
                               "utilization": round(loss["daily_loss"], 6)},
                "drawdown": {"used": round((desk.trips.high or 0.0) - net_pnl, MONEY), "limit": trips.drawdown_limit,
                             "utilization": round(loss["drawdown"], 6)}},
        "accounts": accounts,
        "breaches": {limit: {**b, "at": rfc3339(b["at"])} for limit, b in breaches.items()},
        "trips": trips.model_dump(),
    }
