"""Integer codes both engines use for report kinds, order states and book sentinels."""
from enum import IntEnum

__all__ = ["INVALID_MAX", "INVALID_MIN", "NO_TS", "WHOLE_SIDE", "OrderStatus", "ReportKind"]

#: Best-bid tick of an empty bid side (hftbacktest's convention).
INVALID_MIN = -(2**63)
#: Best-ask tick of an empty ask side.
INVALID_MAX = 2**63 - 1
#: "No time yet": lower than any real timestamp.
NO_TS = -(2**63)
#: Price tick of a clear row whose price is not finite: the whole side goes (no real tick is this low).
WHOLE_SIDE = -(2**63)


class ReportKind(IntEnum):
    """What an exchange response says; every request gets at least one."""

    ACK = 1  #: the order is live at the exchange (sent before any fill it takes on arrival)
    FILL = 2  #: an execution; ``leaves_qty`` is what is left after it
    CANCELED = 3  #: the cancel took effect; ``leaves_qty`` is what was cancelled
    CANCEL_REJECTED = 4  #: nothing live to cancel (already filled, cancelled, or unknown)
    REJECTED = 5  #: the order was refused (its id is still live)
    EXPIRED = 6  #: post-only that would cross, IOC/FOK remainder, market order with no book
    MODIFIED = 7  #: the modify took effect; ``px`` and ``leaves_qty`` are the new values
    MODIFY_REJECTED = 8  #: nothing live to modify


class OrderStatus(IntEnum):
    """An order's state at the exchange."""

    PENDING = 0  #: sent, not yet arrived
    NEW = 1  #: resting, nothing filled
    PARTIALLY_FILLED = 2  #: resting, part filled
    FILLED = 3
    CANCELED = 4
    EXPIRED = 5
    REJECTED = 6


LIVE_STATUSES = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
