"""Positions and PnL per account and series, moved by every fill and marked to the NBBO mid.

Average-cost accounting: buying into a long (or selling into a short) moves the average; a fill
against the position realizes (fill - average) x contracts x multiplier. So for every series,
realized + unrealized = the fills' cash flows + the position at the mark, to the cent, and fees are
kept apart (net = realized + unrealized - fees). Updated in O(1) per fill on the order desk's thread
and rebuilt from the fills table at start-up.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..market.quotes import QuoteBook


@dataclass(slots=True)
class Position:
    account: str
    symbol: str  # padded OCC symbol
    underlying: str
    multiplier: int
    qty: int = 0  # signed contracts, long > 0
    avg_price: float = 0.0  # average premium of the open contracts
    realized: float = 0.0  # $ realized by fills against the position
    fees: float = 0.0  # $ paid in fees (negative = rebates received)
    last_price: float = 0.0  # the latest fill: the mark when the series has no quote

    def fill(self, signed_qty: int, price: float, fee: float) -> None:
        self.fees += fee
        self.last_price = price
        if self.qty == 0 or (self.qty > 0) == (signed_qty > 0):  # opening or adding
            total = self.qty + signed_qty
            self.avg_price = (self.avg_price * abs(self.qty) + price * abs(signed_qty)) / abs(total)
            self.qty = total
            return
        closing = min(abs(signed_qty), abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realized += (price - self.avg_price) * closing * direction * self.multiplier
        rest = signed_qty + closing * direction  # what is left after closing: opens the other way
        self.qty -= closing * direction
        if rest:
            self.qty, self.avg_price = rest, price
        elif self.qty == 0:
            self.avg_price = 0.0


class PositionBook:
    """(account, series) -> Position."""

    def __init__(self, quotes: QuoteBook):
        self.quotes = quotes
        self.positions: dict[tuple[str, str], Position] = {}

    def on_fill(self, account: str, symbol: str, underlying: str, multiplier: int, side: str, price: float,
                qty: int, fee: float) -> None:
        key = (account, symbol)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = Position(account, symbol, underlying, multiplier)
        pos.fill(qty if side == "BUY" else -qty, price, fee)

    def load(self, fills: Iterable, multiplier: Callable[[str], int]) -> None:
        """Rebuild from stored fills, oldest first (rows with account, symbol, underlying, side, price, qty, fee)."""
        for f in fills:
            self.on_fill(f["account"], f["symbol"], f["underlying"], multiplier(f["symbol"]), f["side"], f["price"],
                         f["qty"], f["fee"])

    def mark(self, pos: Position) -> tuple[float, str]:
        """(price, source): the NBBO mid, else the one side quoted, else the last fill."""
        q = self.quotes.quote(pos.symbol)
        if q is not None and q.has_bid and q.has_ask:
            return (q.bid + q.ask) / 2, "mid"
        if q is not None and (q.has_bid or q.has_ask):
            return (q.bid if q.has_bid else q.ask), "bid" if q.has_bid else "ask"
        return pos.last_price, "last_fill"

    def unrealized(self, pos: Position, mark: float) -> float:
        return (mark - pos.avg_price) * pos.qty * pos.multiplier

    def net_pnl(self) -> float:
        """Realized + unrealized - fees over every account and series (the daily loss trip's figure)."""
        total = 0.0
        for pos in self.positions.values():
            total += pos.realized - pos.fees
            if pos.qty:
                total += self.unrealized(pos, self.mark(pos)[0])
        return total

    def accounts(self) -> list[str]:
        return sorted({account for account, _ in self.positions})
