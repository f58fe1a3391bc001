"""OCC/OSI option symbols and minimum price variation (DOMAIN §1-§2).

A symbol is 21 fixed-width characters: root (6, space-padded), YYMMDD, C|P, strike x 1000 (8 digits).
Vendors drop the padding; both forms are accepted and the padded form is re-emitted.
Prices are checked in Decimal so 1.10 is on a nickel tick and 1.12 is not, whatever binary floats say.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

OSI_PATTERN = "^[A-Za-z0-9]{1,6} *[0-9]{6}[CPcp][0-9]{8}$"  # the shape; the date must also be a real one
_OCC_RE = re.compile(r"^(?P<root>[A-Z0-9]{1,6}) *(?P<date>[0-9]{6})(?P<right>[CP])(?P<strike>[0-9]{8})$")
_ROOT_RE = re.compile(r"^[A-Z0-9]{1,6}$")
STRIKE_SCALE = Decimal(1000)


class OccError(ValueError):
    """A symbol field is invalid; ``code`` is a stable reason code and ``field`` the part at fault."""

    def __init__(self, code: str, field: str, message: str):
        super().__init__(message)
        self.code, self.field = code, field


@dataclass(frozen=True, slots=True)
class OccSymbol:
    root: str
    expiry: dt.date
    right: str  # "C" or "P"
    strike: Decimal
    padded: str = field(init=False, compare=False, repr=False)  # the 21-char OSI form, e.g. SPY   260320C00575000

    def __post_init__(self) -> None:
        # computed once: the order path keys quotes, exposure and storage by it many times per order
        object.__setattr__(self, "padded",
                           f"{self.root:<6}{self.expiry:%y%m%d}{self.right}{int(self.strike * STRIKE_SCALE):08d}")

    def __str__(self) -> str:
        return self.padded


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """A float from JSON as the decimal a person typed: 1.1 -> Decimal('1.1'), not 1.1000000000000000888."""
    try:
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation as exc:  # pragma: no cover - callers pass numbers
        raise ValueError(f"{value!r} is not a number") from exc


def make_symbol(root: str, expiry: dt.date, right: str, strike: float | Decimal) -> OccSymbol:
    """Build a symbol from its fields, raising ``OccError`` on the first field that breaks a rule."""
    if not _ROOT_RE.match(root):
        raise OccError("INVALID_SYMBOL", "underlying", f"root {root!r} must be 1-6 upper-case letters or digits")
    if not 2000 <= expiry.year <= 2099:
        raise OccError("INVALID_SYMBOL", "expiry", f"expiry year {expiry.year} is outside 2000-2099")
    if right not in ("C", "P"):
        raise OccError("INVALID_SYMBOL", "option_type", f"option type {right!r} must be C or P")
    k = to_decimal(strike)
    if k <= 0:
        raise OccError("INVALID_SYMBOL", "strike", "strike must be positive")
    scaled = k * STRIKE_SCALE
    if scaled != scaled.to_integral_value() or scaled >= 10**8:
        raise OccError("INVALID_SYMBOL", "strike", f"strike {k} is not exact in 8 digits of thousandths")
    return OccSymbol(root, expiry, right, k)


def parse_symbol(text: str) -> OccSymbol:
    """Parse a padded or unpadded OSI symbol (``SPY   260320C00575000`` or ``SPY260320C00575000``)."""
    if not isinstance(text, str):
        raise OccError("INVALID_SYMBOL", "symbol", f"{text!r} is not an OSI option symbol")
    return _parse_symbol(text)


@functools.lru_cache(maxsize=8192)  # stored orders and quotes name the same few series again and again
def _parse_symbol(text: str) -> OccSymbol:
    m = _OCC_RE.match(text.strip().upper())
    if not m:
        raise OccError("INVALID_SYMBOL", "symbol", f"{text!r} is not an OSI option symbol")
    try:
        expiry = dt.datetime.strptime(m["date"], "%y%m%d").date()
    except ValueError as exc:
        raise OccError("INVALID_SYMBOL", "expiry", f"{m['date']} is not a calendar date") from exc
    return make_symbol(m["root"], expiry, m["right"], Decimal(m["strike"]) / STRIKE_SCALE)


def mpv(tick_class, price: Decimal) -> Decimal:
    """Minimum price variation for a single-leg premium under a ``config.TickClass``."""
    tick = tick_class.below_3 if abs(price) < 3 else tick_class.at_or_above_3
    return to_decimal(tick)


def on_tick(price: Decimal, tick: Decimal) -> bool:
    return price % tick == 0
