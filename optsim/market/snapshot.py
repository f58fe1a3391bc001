"""The snapshot in columns: the form the feed publishes for the service, and the checks at its edge.

The feed writes ``quotes.snap`` beside ``quotes.json`` on every tick: numpy structured arrays (one row
per series, one column per venue) behind a small JSON header, so the service takes a snapshot with one
file read, zero-copy array views and a few vectorized passes instead of parsing a megabyte of JSON. ``quotes.json`` stays for people and tools, and a
hand-written ``quotes.json`` (README) is turned into the same arrays by ``from_json``. Whatever the
source, ``check`` judges it before it is traded on: a snapshot of the wrong shape is refused whole,
a series with a NaN, negative, zero-with-size or badly crossed price is marked unusable.

``quotes.snap`` is ``MAGIC``, a uint32 header length, a JSON header (schema, seq, ts, as_of, spots,
venue names, venues down, and the offset and shape of each array) and three little-endian arrays:
``series`` (``SERIES_DTYPE``), ``venues`` (``VENUE_DTYPE``, series x venue) and ``trades``
(``TRADE_DTYPE``); docs/architecture.md has the fields.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from ..fileio import atomic_write

SNAPSHOT_FILE = "quotes.snap"
MAGIC = b"OPTSNAP\x01"
SCHEMA = 1
SYMBOL_LEN = 21  # a padded OCC symbol: root(6) + yymmdd + C/P + strike x 1000 (8)

#: One row per series: the NBBO, its venues (index into the venue names, -1 = none) and the implied vol.
SERIES_DTYPE = np.dtype([("symbol", f"S{SYMBOL_LEN}"), ("bid", "f8"), ("bid_size", "i8"), ("ask", "f8"),
                         ("ask_size", "i8"), ("bid_venue", "i2"), ("ask_venue", "i2"), ("iv", "f8")])
#: One cell per (series, venue): that venue's own quote; ``quoted`` False = the venue is not on the series.
VENUE_DTYPE = np.dtype([("quoted", "?"), ("bid", "f8"), ("bid_size", "i8"), ("ask", "f8"), ("ask_size", "i8")])
#: The feed's ring of recent prints; ``aggressor`` +1 = a buyer lifted the offer, -1 = a seller hit the bid.
TRADE_DTYPE = np.dtype([("trade_seq", "i8"), ("ts", "f8"), ("symbol", f"S{SYMBOL_LEN}"), ("venue", "i2"),
                        ("price", "f8"), ("qty", "i8"), ("aggressor", "i1")])
#: The edge's bounds on what a snapshot may say. Finite is not enough: a price of 1e14 passed every check and
#: then broke the venues' tick arithmetic (2**52 ticks at most), so every order on the series answered 500.
MAX_PRICE = 1_000_000.0  # $ a share, for an option premium, a print or an underlying's spot
MAX_SIZE = 1_000_000_000  # contracts displayed or printed
MAX_IV = 100.0  # implied vol (10,000 %); above it, or not positive, a series has no vol to price Greeks with
DTYPES = {"series": SERIES_DTYPE.newbyteorder("<"), "venues": VENUE_DTYPE.newbyteorder("<"),
          "trades": TRADE_DTYPE.newbyteorder("<")}


class BadSnapshot(ValueError):
    """A snapshot refused whole: unreadable, or not the documented shape."""


@dataclass(slots=True)
class Frame:
    """One snapshot as arrays; ``shape_ok`` marks series whose JSON entry had the documented shape."""

    seq: int
    ts: float
    as_of: str | None
    spots: dict[str, float]
    venue_names: tuple[str, ...]
    venues_down: frozenset[str]
    series: np.ndarray
    venues: np.ndarray
    trades: np.ndarray
    shape_ok: np.ndarray
    bad_trades: int = 0  # prints dropped for their shape or price


# ---------------------------------------------------------------------- the edge
#: The series fields ``check`` reads (adjacent in ``SERIES_DTYPE``): a series whose bytes here and in its venue
#: quotes are unchanged since the last snapshot keeps its verdict.
NBBO_FIELDS = ("bid", "bid_size", "ask", "ask_size", "bid_venue", "ask_venue")


def check(frame: Frame, max_cross: float, rows: np.ndarray | None = None) -> np.ndarray:
    """Series that may be traded on: finite, non-negative prices, a price wherever there is size, not
    crossed by more than ``max_cross`` dollars, on the NBBO and on every venue quoting the series, and an
    NBBO whose sides name a listed venue or none.

    ``rows`` (indices) checks only those series, in that order: a new snapshot rechecks what moved. Each
    field is gathered on its own (a contiguous column), several times cheaper than gathering whole records.
    """
    def columns(a: np.ndarray, *names: str) -> list[np.ndarray]:
        return [a[name] if rows is None else a[name][rows] for name in names]

    bid, bid_size, ask, ask_size, bid_venue, ask_venue = columns(frame.series, *NBBO_FIELDS)
    ok = frame.shape_ok if rows is None else frame.shape_ok[rows]
    ok = ok & _sane(bid, bid_size, ask, ask_size, max_cross)
    venues = len(frame.venue_names)  # an NBBO side names one of them, or none (-1)
    ok &= (bid_venue >= -1) & (bid_venue < venues) & (ask_venue >= -1) & (ask_venue < venues)
    if frame.venues.size:
        quoted, bid, bid_size, ask, ask_size = columns(frame.venues, "quoted", "bid", "bid_size", "ask", "ask_size")
        ok &= (_sane(bid, bid_size, ask, ask_size, max_cross) | ~quoted).all(axis=1)
    return ok


def rows_differ(before: np.ndarray, after: np.ndarray, fields: tuple[str, ...] | None = None) -> np.ndarray:
    """Per row, whether two arrays of one structured dtype differ in any byte (of ``fields`` only, which
    must be adjacent): one vectorized compare, where ``!=`` on records goes field by field."""
    n = len(after)
    if not after.size:
        return np.zeros(n, dtype=bool)
    a = np.ascontiguousarray(before).view(np.uint8).reshape(n, -1)
    b = np.ascontiguousarray(after).view(np.uint8).reshape(n, -1)
    if fields:
        dtype = after.dtype
        start = dtype.fields[fields[0]][1]
        end = dtype.fields[fields[-1]][1] + dtype.fields[fields[-1]][0].itemsize
        a, b = a[:, start:end], b[:, start:end]
    word = next(size for size in (8, 4, 2, 1) if a.shape[1] % size == 0)  # compare 8 bytes at a time where they fit
    return np.any(a.view(f"u{word}") != b.view(f"u{word}"), axis=1)


def _sane(bid, bid_size, ask, ask_size, max_cross: float) -> np.ndarray:
    def side(price, size):  # NaN fails every comparison, infinity the upper bound
        return (price >= 0) & (price < MAX_PRICE) & (size >= 0) & (size <= MAX_SIZE) & ((size == 0) | (price > 0))

    with np.errstate(invalid="ignore"):
        sides = side(bid, bid_size) & side(ask, ask_size)
        crossed = (bid_size > 0) & (ask_size > 0) & (bid - ask > max_cross + 1e-9)
    return sides & ~crossed


def check_trades(trades: np.ndarray) -> np.ndarray:
    """Prints that may advance a queue: a positive finite price and size, a known side."""
    with np.errstate(invalid="ignore"):
        return ((trades["price"] > 0) & (trades["price"] < MAX_PRICE) & (trades["qty"] > 0)
                & (trades["qty"] <= MAX_SIZE) & np.isfinite(trades["ts"]) & (trades["aggressor"] != 0))


# ---------------------------------------------------------------------- the binary form
def write_snap(path: str | os.PathLike, frame: Frame) -> None:
    """Write ``frame`` to ``path`` atomically (temp file, fsync, rename), like every shared file.

    Layout: ``MAGIC``, a little-endian uint32 header length, the UTF-8 JSON header (meta and where each
    array starts), then each array's raw bytes at a 64-byte aligned offset.
    """
    path = Path(path)
    arrays = {"series": frame.series, "venues": frame.venues, "trades": frame.trades}
    meta = {"schema": SCHEMA, "seq": frame.seq, "ts": frame.ts, "as_of": frame.as_of, "spots": frame.spots,
            "venues": list(frame.venue_names), "venues_down": sorted(frame.venues_down)}
    header = orjson.dumps(meta | {"arrays": {name: [0, list(a.shape)] for name, a in arrays.items()}})
    offset = _align(len(MAGIC) + 4 + len(header) + 64)  # room for the offsets the header is about to name
    layout = {}
    for name, a in arrays.items():
        layout[name] = [offset, list(a.shape)]
        offset = _align(offset + a.nbytes)
    header = orjson.dumps(meta | {"arrays": layout})

    def write(fh) -> None:
        fh.write(MAGIC + len(header).to_bytes(4, "little") + header)
        for name, a in arrays.items():
            fh.seek(layout[name][0])
            fh.write(np.ascontiguousarray(a).tobytes())
        fh.truncate(offset)

    atomic_write(path, write)


def read_snap(path: str | os.PathLike) -> Frame:
    """The frame in ``path`` (arrays are read-only views of the file's bytes); raises FileNotFoundError,
    or BadSnapshot for anything but the documented form."""
    with open(path, "rb") as fh:
        data = fh.read()
    name = Path(path).name
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise BadSnapshot(f"{name} is not a snapshot (bad magic or truncated)")
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "little")
    try:
        meta = orjson.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + size])
        names, layout = meta["venues"], meta["arrays"]
        series = _view(data, DTYPES["series"], *layout["series"])
        venues = _view(data, DTYPES["venues"], *layout["venues"])
        trades = _view(data, DTYPES["trades"], *layout["trades"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadSnapshot(f"{name} unreadable: {exc}") from None
    if meta.get("schema") != SCHEMA:
        raise BadSnapshot(f"{name}: unknown schema {meta.get('schema')!r}")
    if not isinstance(names, list) or series.ndim != 1 or venues.shape != (len(series), len(names)):
        raise BadSnapshot(f"{name}: series and venue arrays do not line up")
    for what, rows in (("series", series), ("trade", trades)):
        if rows.size and np.frombuffer(rows["symbol"].tobytes(), dtype=np.uint8).max() > 127:
            raise BadSnapshot(f"{name}: a {what} symbol is not ASCII (damaged bytes)")
    seq, ts = _header(meta)
    return Frame(seq, ts, meta.get("as_of"), _spots(meta.get("spots")), tuple(map(str, names)),
                 frozenset(map(str, meta.get("venues_down") or ())), series, venues, trades,
                 np.ones(len(series), dtype=bool))


def _align(n: int) -> int:
    return (n + 63) // 64 * 64


def _view(data: bytes, dtype: np.dtype, offset: int, shape: list[int]) -> np.ndarray:
    count = math.prod(shape)
    if not isinstance(offset, int) or offset < 0 or offset + count * dtype.itemsize > len(data):
        raise ValueError("an array runs past the end of the file (truncated)")
    return np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)


# ---------------------------------------------------------------------- quotes.json
def from_json(raw: bytes) -> Frame:
    """A ``quotes.json`` document as a frame; raises BadSnapshot when it is not JSON or not the documented shape.

    Series whose entry is malformed (not an object, a venue quote that is not an object, a price that
    is not a number) stay in the frame with ``shape_ok`` False, so they are counted, not lost silently.
    """
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadSnapshot(f"quotes.json is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadSnapshot(f"quotes.json must be an object, not {type(doc).__name__}")
    quotes = doc.get("quotes")
    if not isinstance(quotes, dict):
        raise BadSnapshot(f"quotes.json 'quotes' must be an object keyed by OCC symbol, not {type(quotes).__name__}")
    seq, ts = _header(doc)
    names: dict[str, int] = {}
    for entry in quotes.values():
        if isinstance(entry, dict) and isinstance(entry.get("venues"), dict):
            for name in entry["venues"]:
                names.setdefault(name, len(names))
    symbols = [k for k in quotes if _symbol_fits(k)]
    empty = (False, 0.0, 0, 0.0, 0)
    rows, cells, shape_ok = [], [], np.ones(len(symbols), dtype=bool)
    for i, symbol in enumerate(symbols):
        entry, row = quotes[symbol], [empty] * len(names)
        try:
            for name, vq in (entry.get("venues") or {}).items():
                row[names[name]] = (True, *_sides(vq))
            rows.append(_series_row(symbol, entry, names))
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError):
            shape_ok[i], row = False, [empty] * len(names)
            rows.append((symbol.encode(), math.nan, 0, math.nan, 0, -1, -1, math.nan))
        cells.extend(row)
    try:
        series = np.array(rows, dtype=SERIES_DTYPE)
        venues = np.array(cells, dtype=VENUE_DTYPE).reshape(len(symbols), len(names))
    except OverflowError:  # a size beyond 64 bits: nothing in this document is a market
        raise BadSnapshot("quotes.json has a size too large to be a quote") from None
    raw_down = doc.get("venues_down") or ()
    trades, bad = _trades_from_json(doc.get("trades"), names)
    return Frame(seq, ts, doc.get("as_of") if isinstance(doc.get("as_of"), str) else None,
                 _spots({k: v.get("spot") for k, v in doc["underlyings"].items() if isinstance(v, dict)}
                        if isinstance(doc.get("underlyings"), dict) else None),
                 tuple(names), frozenset(str(v) for v in raw_down) if isinstance(raw_down, list) else frozenset(),
                 series, venues, trades, shape_ok, bad + (len(quotes) - len(symbols)))


def _header(doc: dict) -> tuple[int, float]:
    seq, ts = doc.get("seq", 0), doc.get("ts")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise BadSnapshot(f"seq must be a non-negative integer, not {seq!r}")
    if not _is_number(ts) or not math.isfinite(ts):
        raise BadSnapshot(f"ts must be epoch seconds, not {ts!r}")
    return seq, float(ts)


def _symbol_fits(symbol: str) -> bool:
    return len(symbol) <= SYMBOL_LEN and symbol.isascii()


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _price(x) -> float:
    if not _is_number(x):
        raise TypeError(f"price {x!r} is not a number")
    return float(x)


def _size(x) -> int:
    if not _is_number(x) or not math.isfinite(x) or x != int(x):
        raise TypeError(f"size {x!r} is not a whole number")
    return int(x)


def _sides(q: dict) -> tuple[float, int, float, int]:
    return _price(q.get("bid", 0)), _size(q.get("bid_size", 0)), _price(q.get("ask", 0)), _size(q.get("ask_size", 0))


def _series_row(symbol: str, q: dict, names: dict[str, int]) -> tuple:
    iv = q.get("iv")
    return (symbol.encode(), *_sides(q), names.get(q.get("bid_venue"), -1) if isinstance(q.get("bid_venue"), str) else -1,
            names.get(q.get("ask_venue"), -1) if isinstance(q.get("ask_venue"), str) else -1,
            float(iv) if _is_number(iv) else math.nan)


def _spots(raw) -> dict[str, float]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): float(v) for k, v in raw.items() if _is_number(v) and 0 < v < MAX_PRICE}


def _trades_from_json(raw, names: dict[str, int]) -> tuple[np.ndarray, int]:
    rows, bad = [], 0
    for t in raw if isinstance(raw, list) else ():
        try:
            if not _symbol_fits(t["symbol"]):
                raise ValueError(f"symbol {t['symbol']!r} is not a padded OCC symbol")
            rows.append((_size(t["trade_seq"]), _price(t["ts"]), t["symbol"].encode("ascii"), names[t["venue"]],
                         _price(t["price"]), _size(t["qty"]), {"BUY": 1, "SELL": -1}[t["aggressor"]]))
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
            bad += 1
    try:
        return np.array(rows, dtype=TRADE_DTYPE), bad
    except OverflowError:
        return np.zeros(0, dtype=TRADE_DTYPE), bad + len(rows)
