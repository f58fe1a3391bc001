"""Record layouts and codes shared by both engines and their callers.

The event layout is hftbacktest's, byte for byte, so a stream recorded for it replays here
unchanged. Every constant below is part of the public contract.
"""
import numpy as np

__all__ = [
    "ACTION_DTYPE",
    "BUY",
    "BUY_EVENT",
    "CANCEL",
    "DEPTH_CLEAR_EVENT",
    "DEPTH_EVENT",
    "DEPTH_SNAPSHOT_EVENT",
    "EVENT_DTYPE",
    "EVENT_TYPE_MASK",
    "EXCH_EVENT",
    "FILL_DTYPE",
    "FOK",
    "GTC",
    "GTX",
    "IOC",
    "LIMIT",
    "LOCAL_EVENT",
    "MARKET",
    "MODIFY",
    "SELL",
    "SELL_EVENT",
    "SUBMIT",
    "TRADE_EVENT",
]

# ---- event flags (hftbacktest's) -------------------------------------------------------------

#: The exchange sees this row at ``exch_ts`` (the only rows the fill simulator acts on).
EXCH_EVENT = 1 << 31
#: The local side sees this row at ``local_ts`` (feed latency = local_ts - exch_ts).
LOCAL_EVENT = 1 << 30
#: Bid side for depth rows; buyer-initiated (asks lifted) for trade rows.
BUY_EVENT = 1 << 29
#: Ask side for depth rows; seller-initiated (bids hit) for trade rows.
SELL_EVENT = 1 << 28

#: The low byte of ``ev`` holds the event type.
EVENT_TYPE_MASK = 0xFF
#: A price level's new total quantity (0 removes the level).
DEPTH_EVENT = 1
#: A trade printed at ``px`` for ``qty``; the side flag names the aggressor.
TRADE_EVENT = 2
#: Clear one side from its best down to ``px`` (or the whole book when no side flag is set).
DEPTH_CLEAR_EVENT = 3
#: One level of a book snapshot; applied like a depth row.
DEPTH_SNAPSHOT_EVENT = 4

# ---- order codes ---------------------------------------------------------------------------

#: Order / aggressor side: buy.
BUY = 1
#: Order / aggressor side: sell.
SELL = -1
#: Time in force: good till cancel.
GTC = 0
#: Time in force: immediate or cancel (what does not trade at once expires).
IOC = 1
#: Time in force: fill or kill (all at once or nothing).
FOK = 2
#: Time in force: post only (expires instead of taking liquidity).
GTX = 3
#: Order type: limit.
LIMIT = 0
#: Order type: market (takes from the opposite side, no price limit).
MARKET = 1

#: Action kind: submit a new order.
SUBMIT = 1
#: Action kind: cancel a live order.
CANCEL = 2
#: Action kind: modify a live order's price and total quantity (``px``, ``qty``).
MODIFY = 3

# ---- record layouts ------------------------------------------------------------------------

#: hftbacktest's 64-byte event row.
EVENT_DTYPE = np.dtype(
    [("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"),
     ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")],
    align=True,
)

#: One order request as the strategy sent it, at local time ``local_ts``.
ACTION_DTYPE = np.dtype(
    [("local_ts", "i8"), ("kind", "u1"), ("order_id", "u8"), ("side", "i1"), ("px", "f8"),
     ("qty", "f8"), ("tif", "u1"), ("ord_type", "u1")],
    align=True,
)

#: One execution: ``px`` is the order's price, ``exec_px`` the price it traded at.
FILL_DTYPE = np.dtype(
    [("order_id", "u8"), ("side", "i1"), ("px", "f8"), ("exec_px", "f8"), ("exec_qty", "f8"),
     ("exch_ts", "i8"), ("local_ts", "i8"), ("maker", "?")],
    align=True,
)
