"""Event rows for hand-made fillsim streams, one builder for every test file that writes them."""
import numpy as np

from fillsim import BUY_EVENT, EVENT_DTYPE, EXCH_EVENT, LOCAL_EVENT, SELL_EVENT


def event_row(kind: int, side: int, ts: int, px: float, qty: float = 0.0, flags: int = EXCH_EVENT | LOCAL_EVENT):
    """One row of ``EVENT_DTYPE``: seen by the exchange and locally at ``ts``; ``side`` 1 bid, -1 ask, 0 neither."""
    side_flag = BUY_EVENT if side == 1 else (SELL_EVENT if side == -1 else 0)
    return (flags | side_flag | kind, ts, ts, px, qty, 0, 0, 0.0)


def events(*rows) -> np.ndarray:
    return np.array(list(rows), dtype=EVENT_DTYPE)
