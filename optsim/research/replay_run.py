"""Interim run function over ``fillsim.replay`` until issue 8's ``run_backtest`` lands.

A non-reactive strategy replayed on a stream is a real backtest: ``requote`` is a market maker
re-quoting at the touch it sees (``fillsim.synth``'s ``requote_actions``), ``take`` crosses the
spread with IOC orders of ``qty`` on alternate sides. Same shape as ``run_backtest``
(data, strategy, params, config=, seed=) -> summary dict.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

import fillsim
from fillsim import ACTION_DTYPE, BUY_EVENT, EVENT_TYPE_MASK, IOC, SELL_EVENT, SUBMIT
from fillsim.synth import requote_actions
from fillsim.types import DEPTH_EVENT

__all__ = ["MarketData", "load_data", "run_backtest"]

STRATEGIES = {"requote": {"every": 100, "levels": 1, "qty": 1.0}, "take": {"every": 100, "qty": 5.0}}


@dataclass(frozen=True)
class MarketData:
    events: np.ndarray
    snapshot: np.ndarray | None = None


def load_data(path) -> MarketData:
    """An hftbacktest .npz event file (``data`` and optional ``snapshot`` arrays)."""
    with np.load(os.fspath(path), allow_pickle=False) as npz:
        snap = npz["snapshot"] if "snapshot" in npz.files else None
        return MarketData(np.ascontiguousarray(npz["data"]), snap)


def touches(events: np.ndarray, snapshot: np.ndarray | None, tick: float) -> np.ndarray:
    """(best bid, best ask) in ticks after each row, as the local feed shows them."""
    bids, asks = {}, {}
    rows = [] if snapshot is None else list(snapshot)
    for row in rows:
        (bids if row["ev"] & BUY_EVENT else asks)[round(row["px"] / tick)] = row["qty"]
    out = np.empty((len(events), 2), dtype=np.int64)
    ev, px, qty = events["ev"], events["px"], events["qty"]
    for i in range(len(events)):
        if ev[i] & EVENT_TYPE_MASK == DEPTH_EVENT:
            book = bids if ev[i] & BUY_EVENT else asks if ev[i] & SELL_EVENT else None
            if book is not None:
                t = round(px[i] / tick)
                if qty[i] > 0:
                    book[t] = qty[i]
                else:
                    book.pop(t, None)
        out[i] = (max(bids) if bids else 0, min(asks) if asks else 0)
    return out


def take_actions(events, tb, every: int, qty: float, tick: float) -> np.ndarray:
    rows = np.arange(every - 1, len(events), every)
    acts = np.zeros(len(rows), dtype=ACTION_DTYPE)
    side = np.where(np.arange(len(rows)) % 2 == 0, 1, -1)
    acts["local_ts"], acts["kind"], acts["order_id"] = events["local_ts"][rows], SUBMIT, np.arange(1, len(rows) + 1)
    acts["side"], acts["qty"], acts["tif"] = side, qty, IOC
    acts["px"] = np.where(side == 1, tb[rows, 1], tb[rows, 0]) * tick
    return acts


def run_backtest(data, strategy: str, params: dict | None = None, *, config: dict | None = None,
                 seed: int = 0, **_ignored) -> dict:
    if isinstance(data, (str, os.PathLike)):
        data = load_data(data)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: choose from {sorted(STRATEGIES)}")
    unknown = set(params or {}) - set(STRATEGIES[strategy])
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for strategy {strategy!r}")
    p = {**STRATEGIES[strategy], **(params or {})}
    if int(p["every"]) < 1 or int(p.get("levels", 1)) < 1 or float(p["qty"]) <= 0:
        raise ValueError("every and levels must be >= 1 and qty > 0")
    cfg = fillsim.Config.coerce(config)
    tb = touches(data.events, data.snapshot, cfg.tick_size)
    if strategy == "requote":
        actions = requote_actions(data.events, tb, every=int(p["every"]), levels=int(p["levels"]),
                                  qty=float(p["qty"]), tick_size=cfg.tick_size)
    else:
        actions = take_actions(data.events, tb, int(p["every"]), float(p["qty"]), cfg.tick_size)
    fills = fillsim.replay(data.events, actions, cfg, data.snapshot)
    signed = fills["side"] * fills["exec_qty"]
    position = float(signed.sum())
    cash = float(-(signed * fills["exec_px"]).sum())
    last = tb[-1]
    mark = (last[0] + last[1]) / 2 * cfg.tick_size
    sent = float(actions["qty"][actions["kind"] == SUBMIT].sum())
    return {"events": len(data.events), "orders": int((actions["kind"] == SUBMIT).sum()),
            "fills": len(fills), "maker_fills": int(fills["maker"].sum()),
            "fill_ratio": float(fills["exec_qty"].sum() / sent) if sent else 0.0,
            "volume": float(fills["exec_qty"].sum()), "position": position, "cash": round(cash, 6),
            "pnl": round(float(cash + position * mark), 6), "seed": seed}
