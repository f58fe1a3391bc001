"""Query-string numbers read one strict way: ASCII digits only, bounded in length and value.

``str.isdigit`` accepts "²" and "①" (which ``int`` then refuses), and a 5,000-digit number is past
Python's int-parsing limit and SQLite's 64-bit integers: each of those was a 500 before.
"""
from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,18}")  # 18 digits always fit a signed 64-bit SQLite integer


def bounded_int(raw: str, low: int, high: int) -> int | None:
    """The integer ``raw`` spells if it is plain ASCII digits within [low, high]; else None."""
    if not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None
