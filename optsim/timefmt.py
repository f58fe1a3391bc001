"""RFC 3339 UTC timestamps, the one time format the API and the logs speak."""
from __future__ import annotations

import datetime as dt


def rfc3339(epoch: float | None) -> str | None:
    """``2025-01-02T14:31:07.412Z`` for an epoch in seconds; None stays None."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """Epoch seconds from RFC 3339 (``...Z`` or an offset) or from a plain number of seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()
