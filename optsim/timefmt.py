"""RFC 3339 UTC timestamps, the one time format the API, the logs and the incidents speak."""
from __future__ import annotations

import datetime as dt
from typing import Any


def rfc3339(epoch: float | None) -> str | None:
    """UTC, millisecond precision, ``Z`` suffix: ``2025-01-02T14:31:07.412Z``; None stays None."""
    if epoch is None:
        return None
    # isoformat truncates to the millisecond as the format above says, at half strftime's cost (every order answer)
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_time(value: Any) -> float:
    """Epoch seconds from an RFC 3339 string or an epoch number; ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    stamp = dt.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        raise ValueError("RFC 3339 time needs a UTC offset or Z")
    return stamp.timestamp()
