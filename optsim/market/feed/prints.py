"""Trade prints at the NBBO, numbered by a global gapless ``trade_seq``.

quotes.json keeps only the most recent ``feed.trades_kept`` prints, oldest first. A reader that
polls slower than the feed still gets every print: it remembers the last ``trade_seq`` it took and
takes every kept print above it. If the oldest print kept is above ``last + 1``, the ring has
rolled past prints it never saw, and it knows exactly how many (oldest − last − 1).
"""
from __future__ import annotations

import math
import random
from collections import deque

from .quoting import Nbbo


class TradeTape:
    """Prints as they happen, with the ring that quotes.json carries."""

    def __init__(self, kept: int, probability: float, rng: random.Random):
        self.ring: deque[dict] = deque(maxlen=kept)
        self.probability = probability
        self.rng = rng
        self.trade_seq = 0  # the last number handed out; 0 = no print yet

    def maybe_print(self, symbol: str, best: Nbbo, ts: float) -> dict | None:
        """With ``probability``, someone takes the market: BUY lifts the offer, SELL hits the bid."""
        if self.rng.random() >= self.probability:
            return None
        buy = self.rng.random() < 0.5
        price, size, venue = (best.ask, best.ask_size, best.ask_venue) if buy else (best.bid, best.bid_size,
                                                                                      best.bid_venue)
        if venue is None or price <= 0:
            return None
        qty = max(1, min(size, round(math.exp(self.rng.gauss(1.2, 0.9)))))
        self.trade_seq += 1
        trade = {"trade_seq": self.trade_seq, "ts": ts, "symbol": symbol, "venue": venue,
                 "price": price / 100, "qty": qty, "aggressor": "BUY" if buy else "SELL"}
        self.ring.append(trade)
        return trade

    def kept(self) -> list[dict]:
        return list(self.ring)
