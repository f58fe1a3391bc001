"""Deterministic quotes.json snapshots for tests: every listed series quoted around its BS theo."""
from __future__ import annotations

import math
import time
from pathlib import Path

from optsim.domain.chain import Chain
from optsim.config import Config
from optsim.fileio import atomic_write_json
from optsim.domain.greeks import black_scholes, year_fraction


def _round_down(px: float, tick: float) -> float:
    return round(math.floor(px / tick + 1e-9) * tick, 2)


def _round_up(px: float, tick: float) -> float:
    return round(math.ceil(px / tick - 1e-9) * tick, 2)


def build_snapshot(config: Config, *, seq: int = 1, ts: float | None = None, venues: list[str] | None = None,
                   overrides: dict[str, dict] | None = None, trades: list[dict] | None = None,
                   venues_down: list[str] | None = None) -> dict:
    """A snapshot in the feed's format. Each venue quotes theo -/+ a half-spread that grows by venue index,
    so the first venue is the NBBO on both sides. ``overrides`` replaces fields of a series' NBBO entry."""
    chain = Chain(config)
    venues = venues or [v.name for v in config.venues]
    quotes = {}
    for c in chain:
        u = config.underlyings[c.underlying]
        t = year_fraction((c.expiry - config.as_of).days + 0.5)
        theo = black_scholes(c.right, u.spot, float(c.strike), t, u.vol, config.chain.rate).price
        tick = 0.01 if theo < 3 or c.tick_class == "penny_all" else 0.05
        per_venue = {}
        for i, name in enumerate(venues):
            half = max(0.02, theo * 0.01) + i * tick
            bid = max(0.0, _round_down(theo - half, tick))
            per_venue[name] = {"bid": bid, "bid_size": 50 if bid > 0 else 0, "ask": _round_up(theo + half, tick),
                               "ask_size": 40}
        best = per_venue[venues[0]]
        entry = {"bid": best["bid"], "bid_size": best["bid_size"], "bid_venue": venues[0], "ask": best["ask"],
                 "ask_size": best["ask_size"], "ask_venue": venues[0], "iv": u.vol, "theo": round(theo, 4),
                 "venues": per_venue}
        entry.update((overrides or {}).get(c.occ, {}))
        quotes[c.occ] = entry
    return {"schema": 1, "seq": seq, "ts": time.time() if ts is None else ts, "as_of": config.as_of.isoformat(),
            "underlyings": {k: {"spot": u.spot} for k, u in config.underlyings.items()}, "quotes": quotes,
            "trades": trades or [], "venues_down": venues_down or []}


def write_snapshot(config: Config, **kwargs) -> dict:
    snap = build_snapshot(config, **kwargs)
    data_dir = Path(config.data_dir)
    atomic_write_json(data_dir / "quotes.json", snap)
    atomic_write_json(data_dir / "feed_heartbeat.json", {"ts": snap["ts"], "seq": snap["seq"], "pid": 0,
                                                         "contracts": len(snap["quotes"]), "status": "running"})
    return snap
