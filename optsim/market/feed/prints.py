"""Trade prints at the NBBO, numbered by a global gapless ``trade_seq``.

quotes.json keeps the most recent ``feed.trades_kept`` prints, oldest first, and never drops a print
before a quotes.json has carried it (on a large chain quotes.json is written less often than
snapshots, and more prints than the ring holds may happen between two). A reader that polls slower
than the feed still gets every print: it remembers the last ``trade_seq`` it took and takes every
kept print above it. If the oldest print kept is above ``last + 1``, the ring has rolled past prints
it never saw, and it knows exactly how many (oldest − last − 1).
"""
from __future__ import annotations

from collections import deque

import numpy as np

from ..snapshot import TRADE_DTYPE

UNCARRIED_BOUND = 16  # the ring holds at most this many times ``feed.trades_kept`` prints


class TradeTape:
    """Prints as they happen, with the ring that quotes.json carries and the last ``kept`` in columns (quotes.snap)."""

    def __init__(self, kept: int, probability: float, rng: np.random.Generator):
        self.ring: deque[dict] = deque()
        self.kept_count = kept
        self.carried_seq = 0  # the last print a quotes.json has carried
        self.columns = np.zeros(0, dtype=TRADE_DTYPE)  # replaced, never changed in place: a frame may hold it
        self.probability = probability
        self.rng = rng
        self.trade_seq = 0  # the last number handed out; 0 = no print yet

    def take(self, symbols: list[str], venues: tuple[str, ...], best: tuple[np.ndarray, ...], ts: float) -> None:
        """Each series trades with ``probability``: BUY lifts the offer, SELL hits the bid (``best`` is the
        NBBO per series in cents, as ``quoting.best_of`` gives it)."""
        self._trim()
        hits = np.flatnonzero(self.rng.random(len(symbols)) < self.probability)
        if not len(hits):
            return
        buys = self.rng.random(len(hits)) < 0.5
        sizes = np.rint(np.exp(self.rng.normal(1.2, 0.9, len(hits))))
        bid, bid_size, bid_venue, ask, ask_size, ask_venue = (side[hits].tolist() for side in best)
        rows = []
        for i, buy in enumerate(buys.tolist()):
            price, size, venue = (ask[i], ask_size[i], ask_venue[i]) if buy else (bid[i], bid_size[i], bid_venue[i])
            if venue < 0 or price <= 0:
                continue
            self.trade_seq += 1
            symbol, qty = symbols[hits[i]], int(max(1, min(size, sizes[i])))
            self.ring.append({"trade_seq": self.trade_seq, "ts": ts, "symbol": symbol, "venue": venues[venue],
                              "price": price / 100, "qty": qty, "aggressor": "BUY" if buy else "SELL"})
            rows.append((self.trade_seq, ts, symbol.encode(), venue, price / 100, qty, 1 if buy else -1))
        if rows:
            self.columns = np.concatenate([self.columns, np.array(rows, dtype=TRADE_DTYPE)])[-self.kept_count:]

    def _trim(self) -> None:
        """Down to ``kept`` prints, keeping those no quotes.json has carried yet (up to a bound: a long stall
        drill writes no quotes.json, and the ring must not grow with it)."""
        ring, most = self.ring, self.kept_count * UNCARRIED_BOUND
        while len(ring) > self.kept_count and (ring[0]["trade_seq"] <= self.carried_seq or len(ring) > most):
            ring.popleft()

    def kept(self) -> list[dict]:
        """The prints for a quotes.json."""
        return list(self.ring)

    def carried(self, upto: int) -> None:
        """A quotes.json holding every print up to ``upto`` is on disk: from now on they may leave the ring
        (not before: a document that could not be written carried nothing)."""
        self.carried_seq = max(self.carried_seq, upto)
