"""The replay face: a recorded stream and the orders sent during it in, the fills out."""
from __future__ import annotations

import numpy as np

from .config import Config
from .engines import engine_class
from .ticks import MAX_LOTS, snapshot_levels, to_ticks
from .types import (
    ACTION_DTYPE,
    BUY,
    EVENT_DTYPE,
    EXCH_EVENT,
    FILL_DTYPE,
    SELL,
    SUBMIT,
)

__all__ = ["replay"]


def _as_records(name: str, arr, dtype: np.dtype) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 1 or arr.dtype.names is None:
        raise TypeError(f"{name} must be a 1-d structured array of {dtype}")
    missing = set(dtype.names) - set(arr.dtype.names)
    if missing:
        raise TypeError(f"{name} lacks fields {sorted(missing)}")
    if arr.dtype != dtype:
        out = np.empty(len(arr), dtype=dtype)
        for field in dtype.names:
            out[field] = arr[field]
        arr = out
    return np.ascontiguousarray(arr)


def _order_slots(actions: np.ndarray):
    """Give each submit its own order slot; a cancel or modify targets the latest submit of its id.

    Returns (slot, prev_slot): ``prev_slot`` of a submit is the previous order with the same id
    (the exchange rejects the submit if that one is still live), -1 otherwise.
    """
    n = len(actions)
    is_submit = actions["kind"] == SUBMIT
    own = np.where(is_submit, np.cumsum(is_submit) - 1, -1)
    # group by id (stable), then carry the latest submit slot forward inside each group: slots
    # grow with position, so a running max per group does it once groups are offset apart
    order = np.argsort(actions["order_id"], kind="stable")
    ids = actions["order_id"][order]
    group = np.concatenate(([0], np.cumsum(ids[1:] != ids[:-1]))) if n else np.zeros(0, np.int64)
    span = n + 2
    latest = np.maximum.accumulate(group * span + own[order] + 1) - group * span - 1
    before = np.full(n, -1, dtype=np.int64)
    same_group = np.concatenate(([False], group[1:] == group[:-1])) if n else np.zeros(0, bool)
    before[same_group] = latest[:-1][same_group[1:]]
    slot, prev = np.empty(n, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    slot[order] = np.where(is_submit[order], own[order], latest)
    prev[order] = np.where(is_submit[order], before, -1)
    return slot, prev


def replay(events, actions, config=None, snapshot=None, *, engine: str | None = None) -> np.ndarray:
    """Replay ``actions`` against the exchange-side rows of ``events``; return the fills.

    Parameters
    ----------
    events : EVENT_DTYPE array, one instrument; its exchange rows (EXCH_EVENT) in
        ``exch_ts`` order, as ``Asset`` requires (rows without the flag are the local feed's
        and are skipped).
    actions : ACTION_DTYPE array of requests at their send (local) times; they are
        handled in send-time order, ties in array order.
    config : Config, a dict of its fields, or None for the defaults.
    snapshot : DEPTH_SNAPSHOT rows applied to the empty book before the first event.
    engine : "cython" or "python"; default ``fillsim.ENGINE``.

    Returns
    -------
    FILL_DTYPE array, one row per execution, in the order they happened.

    Raises
    ------
    TypeError : an input is not a structured array with the needed fields.
    ValueError : bad config, exchange rows out of time order, an action with an unknown kind, side, tif or order type, or an
        exchange or snapshot row with a non-finite or absurd price (a clear row may have a
        non-finite one: it clears the whole side) or a size that is negative, not finite or
        2**53 lots or more.
    """
    cfg = Config.coerce(config)
    events = _as_records("events", events, EVENT_DTYPE)
    exch_ts = events["exch_ts"][(events["ev"] & EXCH_EVENT) != 0]
    if (exch_ts[1:] < exch_ts[:-1]).any():
        raise ValueError("events: exch_ts of the exchange rows must not go back in time")
    actions = _as_records("actions", actions, ACTION_DTYPE)
    actions = actions[np.argsort(actions["local_ts"], kind="stable")]
    _check_actions(actions, cfg.lot_size)
    core = engine_class(engine)(*cfg.engine_params())
    book = core.add_book()
    if snapshot is not None:
        snap = _as_records("snapshot", snapshot, EVENT_DTYPE)
        core.apply_snapshot(book, *snapshot_levels(snap, cfg.tick_size, cfg.lot_size))
    slot, prev = _order_slots(actions)
    fills = core.replay(
        events, np.ascontiguousarray(actions["local_ts"]), np.ascontiguousarray(actions["kind"]),
        slot, np.ascontiguousarray(actions["order_id"]), prev,
        np.ascontiguousarray(actions["side"]), to_ticks(actions["px"], cfg.tick_size),
        np.ascontiguousarray(actions["qty"]), np.ascontiguousarray(actions["tif"]),
        np.ascontiguousarray(actions["ord_type"]))
    assert fills.dtype == FILL_DTYPE
    return fills


def _check_actions(actions: np.ndarray, lot_size: float) -> None:
    if not np.isin(actions["kind"], (1, 2, 3)).all():
        raise ValueError("action kind must be 1 (submit), 2 (cancel) or 3 (modify)")
    submits = actions[actions["kind"] == SUBMIT]
    if not np.isin(submits["side"], (BUY, SELL)).all():
        raise ValueError("order side must be +1 (buy) or -1 (sell)")
    if not np.isin(submits["tif"], (0, 1, 2, 3)).all():
        raise ValueError("tif must be 0 GTC, 1 IOC, 2 FOK or 3 GTX")
    if not np.isin(submits["ord_type"], (0, 1)).all():
        raise ValueError("ord_type must be 0 (limit) or 1 (market)")
    sized = actions[actions["kind"] != 2]
    if not (np.isfinite(sized["qty"]).all() and (sized["qty"] > 0).all()):
        raise ValueError("order quantities must be positive")
    if not (sized["qty"] / lot_size < MAX_LOTS).all():
        raise ValueError("order quantities must be under 2**53 lots")
    if not np.isfinite(sized["px"]).all():
        raise ValueError("order prices must be finite")
