"""Orders, legs, fills and positions in SQLite (WAL): an order is answered only after it is committed.

``synchronous=NORMAL`` in WAL mode survives a killed process (the committed pages are in the OS
cache and the WAL is replayed on open); ``durability = "power"`` in config switches to FULL, which
also survives power loss at the cost of one fsync per order.
One connection per thread: SQLite connections must not be shared across waitress's threads.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..fileio import private_file
from .group_writer import GroupWriter

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    client_order_id   TEXT,
    account           TEXT NOT NULL,
    kind              TEXT NOT NULL,          -- single | multi
    strategy_type     TEXT NOT NULL,
    strategy_detected TEXT NOT NULL,
    underlying        TEXT NOT NULL,
    side              TEXT NOT NULL,
    qty               INTEGER NOT NULL,
    limit_price       TEXT,                   -- Decimal as text; multi: net, > 0 debit
    order_type        TEXT NOT NULL,
    time_in_force     TEXT NOT NULL,
    status            TEXT NOT NULL,          -- working | partially_filled | filled | cancelled | rejected | expired
    reason            TEXT,                   -- reject reason code
    reason_field      TEXT,
    message           TEXT,
    venue             TEXT,
    filled_qty        INTEGER NOT NULL DEFAULT 0,
    avg_price         REAL,
    queue_ahead       REAL,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    body              TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS orders_client_id ON orders(account, client_order_id)
    WHERE client_order_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS orders_underlying ON orders(underlying, seq);
CREATE INDEX IF NOT EXISTS orders_status ON orders(status, seq);
CREATE TABLE IF NOT EXISTS legs (
    order_id   TEXT NOT NULL,
    leg_no     INTEGER NOT NULL,
    symbol     TEXT NOT NULL,
    side       TEXT NOT NULL,
    ratio      INTEGER NOT NULL,
    qty        INTEGER NOT NULL,
    price      TEXT,
    filled_qty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, leg_no)
);
CREATE INDEX IF NOT EXISTS legs_symbol ON legs(symbol);
CREATE TABLE IF NOT EXISTS fills (
    fill_id    INTEGER PRIMARY KEY,
    order_id   TEXT NOT NULL,
    leg_no     INTEGER NOT NULL,
    symbol     TEXT NOT NULL,
    venue      TEXT NOT NULL,
    side       TEXT NOT NULL,
    price      REAL NOT NULL,
    qty        INTEGER NOT NULL,
    liquidity  TEXT NOT NULL,                 -- maker | taker
    fee        REAL NOT NULL,                 -- $ for this fill (negative = rebate)
    exch_ts_ns INTEGER,
    local_ts_ns INTEGER,
    ts         REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_order ON fills(order_id);
CREATE TABLE IF NOT EXISTS positions (
    account    TEXT NOT NULL,
    symbol     TEXT NOT NULL,
    underlying TEXT NOT NULL,
    qty        INTEGER NOT NULL,              -- signed contracts, long > 0
    cost       REAL NOT NULL,                 -- signed premium paid, $ (multiplier applied)
    PRIMARY KEY (account, symbol)
);
CREATE TABLE IF NOT EXISTS trading_state (
    seq    INTEGER PRIMARY KEY,
    state  TEXT NOT NULL,                     -- ACTIVE | REDUCING | HALTED; the newest row is in force
    actor  TEXT NOT NULL,                     -- who set it ("auto" for a trip)
    reason TEXT NOT NULL,
    source TEXT NOT NULL,                     -- manual | trip:<cause> | session
    ts     REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq         INTEGER PRIMARY KEY,
    ts          REAL NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,                -- e.g. kill_switch.engage, venue.mark, drill.inject
    target      TEXT,
    remote_addr TEXT,
    reason      TEXT,
    details     TEXT NOT NULL                 -- JSON object
);
CREATE TABLE IF NOT EXISTS venue_marks (
    venue  TEXT NOT NULL,
    marked_by TEXT NOT NULL,                  -- hand | the drill that marked it (venue_down)
    ts     REAL NOT NULL,
    PRIMARY KEY (venue, marked_by)
);
CREATE TABLE IF NOT EXISTS session (
    key   TEXT PRIMARY KEY,                   -- trading_date: the simulated day whose DAY orders are working;
                                              -- closed_date: the day whose session has closed (latched)
    value TEXT NOT NULL
);
"""

WRITER_AUTOCHECKPOINT_PAGES = 20_000  # ~80 MB of log: only reached when no background thread checkpoints
OPEN_STATUSES = ("working", "partially_filled")
INSERT_LEG = "INSERT INTO legs (order_id, leg_no, symbol, side, ratio, qty, price) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _client_key(account: str, client_order_id: str) -> int:
    return hash((account, client_order_id))


@dataclass(frozen=True, slots=True)
class FillRow:
    order_id: str
    leg_no: int
    symbol: str
    venue: str
    side: str
    price: float
    qty: int
    liquidity: str
    fee: float
    exch_ts_ns: int | None
    local_ts_ns: int | None
    ts: float


class Store:
    def __init__(self, path: str | Path, durability: str = "process"):
        self.path = str(private_file(path))  # SQLite gives the -wal and -shm files the same mode
        self._sync = "FULL" if durability == "power" else "NORMAL"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        with self.conn() as db:
            db.executescript(SCHEMA)
        self.integrity = self.quick_check()  # "ok", or what is wrong: /health fails on it until repaired
        if self.integrity != "ok":  # said in the log too: the runbook's db_corrupt check greps for it
            log.error("orders.db integrity check failed (database corrupt): %s: %s; see runbook db_corrupt",
                      self.path, self.integrity)
        self._client_ids = self._stored_client_ids()

    def _stored_client_ids(self) -> set[int] | None:
        """Every (account, client_order_id) stored, as hashes. Most orders bring a new id, and knowing that in
        memory spares the writer a statement (see ``GroupWriter``); an id whose order rolled back stays here and
        costs a lookup only. None for a damaged file (``integrity`` says how): then every id is looked up."""
        try:
            return {_client_key(*r) for r in self.conn().execute(
                "SELECT account, client_order_id FROM orders WHERE client_order_id IS NOT NULL")}
        except sqlite3.DatabaseError:
            return None

    def conn(self) -> sqlite3.Connection:
        """This thread's connection: the writer's while this thread applies the desk's changes, so reads inside
        a transaction see its own writes; otherwise one of its own (reads; writes at start-up)."""
        local = self._local
        db = getattr(local, "writing", None) or getattr(local, "db", None)
        if db is None:
            db = local.db = self.connect()
        return db

    def lend(self, db: sqlite3.Connection | None) -> None:
        """Make ``db`` this thread's connection until lent ``None`` (the sequencer's writer, for one turn)."""
        self._local.writing = db

    def connect(self, writer: bool = False) -> sqlite3.Connection:
        """A new connection, usable from any thread that serialises its use.

        The ``writer`` (the sequencer's) leaves checkpoints to ``checkpoint``, called off the order path: a
        checkpoint copies the log into the database and syncs it, 10-20 ms that would otherwise land on
        whichever order's commit crossed the threshold. It still checkpoints by itself past a far larger log,
        so the log stays bounded when nothing calls ``checkpoint``.
        """
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._sync}")
        db.execute("PRAGMA foreign_keys=ON")
        if writer:
            db.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
        with self._all_lock:
            self._all.append(db)
        return db

    def checkpoint(self) -> tuple[int, int]:
        """Copy the committed log into the database without blocking the writer (a passive checkpoint);
        returns the log's frames and how many of them are now in the database."""
        _, frames, copied = self.conn().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return frames, copied

    def close(self) -> None:
        with self._all_lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    # ------------------------------------------------------------------ writes (inside a transaction)
    def insert_order(self, db: GroupWriter, order: dict, legs: Iterable[dict]) -> None:
        """Held on the writer until its group ends or it runs another statement (``GroupWriter``)."""
        db.hold(f"INSERT INTO orders ({', '.join(order)}) VALUES ({', '.join('?' * len(order))})",
                tuple(order.values()))
        for leg in legs:
            db.hold(INSERT_LEG, (order["id"], leg["leg_no"], leg["symbol"], leg["side"], leg["ratio"], leg["qty"],
                                 leg["price"]))
        if order["client_order_id"] is not None and self._client_ids is not None:
            self._client_ids.add(_client_key(order["account"], order["client_order_id"]))

    @staticmethod
    def update_order(db: sqlite3.Connection, order_id: str, **fields) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"UPDATE orders SET {sets} WHERE id = ?", (*fields.values(), order_id))

    @staticmethod
    def insert_fill(db: sqlite3.Connection, fill: FillRow, underlying: str, account: str, multiplier: int) -> None:
        """Record one fill and move the account's position in that series."""
        db.execute("INSERT INTO fills (order_id, leg_no, symbol, venue, side, price, qty, liquidity, fee, "
                   "exch_ts_ns, local_ts_ns, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (fill.order_id, fill.leg_no, fill.symbol, fill.venue, fill.side, fill.price, fill.qty,
                    fill.liquidity, fill.fee, fill.exch_ts_ns, fill.local_ts_ns, fill.ts))
        db.execute("UPDATE legs SET filled_qty = filled_qty + ? WHERE order_id = ? AND leg_no = ?",
                   (fill.qty, fill.order_id, fill.leg_no))
        signed = fill.qty if fill.side == "BUY" else -fill.qty
        db.execute("INSERT INTO positions (account, symbol, underlying, qty, cost) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT(account, symbol) DO UPDATE SET qty = qty + excluded.qty, cost = cost + excluded.cost",
                   (account, fill.symbol, underlying, signed, signed * fill.price * multiplier))

    @staticmethod
    def insert_trading_state(db: sqlite3.Connection, state: str, actor: str, reason: str, source: str,
                             ts: float) -> None:
        db.execute("INSERT INTO trading_state (state, actor, reason, source, ts) VALUES (?, ?, ?, ?, ?)",
                   (state, actor, reason, source, ts))

    @staticmethod
    def insert_audit(db: sqlite3.Connection, entry: dict) -> int:
        cur = db.execute("INSERT INTO audit (ts, actor, action, target, remote_addr, reason, details) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (entry["ts"], entry["actor"], entry["action"], entry.get("target"),
                          entry.get("remote_addr"), entry.get("reason"), json.dumps(entry.get("details") or {})))
        return cur.lastrowid

    @staticmethod
    def append_audit(path: str | Path, entry: dict) -> int:
        """One audit entry from another process (incident_logger.py ack/resolve) on a short connection of its own:
        SQLite's write lock (WAL, a 30 s busy timeout) orders it with the service's writer, running or not."""
        db = sqlite3.connect(str(private_file(path)), isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'audit'").fetchone() is None:
                db.executescript(SCHEMA)  # no service has run on this data dir yet
            db.execute("BEGIN IMMEDIATE")
            seq = Store.insert_audit(db, entry)
            db.execute("COMMIT")
            return seq
        finally:
            db.close()

    @staticmethod
    def set_venue_marks(db: sqlite3.Connection, venue: str, marks: set[str], ts: float) -> None:
        """Store who has ``venue`` marked down now (none: it is up); a mark kept keeps its first ts."""
        db.execute(f"DELETE FROM venue_marks WHERE venue = ? AND marked_by NOT IN ({','.join('?' * len(marks))})",
                   (venue, *marks))
        db.executemany("INSERT OR IGNORE INTO venue_marks (venue, marked_by, ts) VALUES (?, ?, ?)",
                       [(venue, by, ts) for by in marks])

    def venue_marks(self) -> list[dict]:
        """Every venue mark in force: venue, marked_by, ts."""
        return [dict(r) for r in self.conn().execute("SELECT venue, marked_by, ts FROM venue_marks ORDER BY ts")]

    @staticmethod
    def set_session(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute("INSERT INTO session (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                   "excluded.value", (key, value))

    # ------------------------------------------------------------------ reads
    def trading_state(self) -> dict | None:
        """The trading state in force (the newest row), or None on a fresh store."""
        row = self.conn().execute("SELECT * FROM trading_state ORDER BY seq DESC LIMIT 1").fetchone()
        return dict(row) if row else None

    def audit(self, *, limit: int = 100, before_seq: int | None = None, action: str | None = None) -> list[dict]:
        """Audit entries, newest first."""
        where, args = [], []
        if before_seq:
            where.append("seq < ?"), args.append(before_seq)
        if action:
            where.append("(action = ? OR action LIKE ?)"), args.extend((action, action + ".%"))
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.conn().execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [{**dict(r), "details": json.loads(r["details"])} for r in rows]

    def session(self, key: str) -> str | None:
        row = self.conn().execute("SELECT value FROM session WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def all_fills(self) -> Iterable[sqlite3.Row]:
        """Every fill with its order's account, oldest first (positions and PnL are rebuilt from these)."""
        return self.conn().execute("SELECT f.*, o.account, o.underlying FROM fills f JOIN orders o ON o.id = "
                                   "f.order_id ORDER BY f.fill_id")

    def get_order(self, order_id: str) -> dict | None:
        db = self.conn()
        row = db.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return self._with_children(db, row) if row else None

    def find_client_order(self, account: str, client_order_id: str) -> dict | None:
        if self._client_ids is not None and _client_key(account, client_order_id) not in self._client_ids:
            return None  # never used: no statement to run
        db = self.conn()
        row = db.execute("SELECT * FROM orders WHERE account = ? AND client_order_id = ?",
                         (account, client_order_id)).fetchone()
        return self._with_children(db, row) if row else None

    def list_orders(self, *, underlying: str | None = None, symbol: str | None = None, status: str | None = None,
                    account: str | None = None, limit: int = 100, before_seq: int | None = None) -> list[dict]:
        where, args = [], []
        if underlying:
            where.append("o.underlying = ?"), args.append(underlying)
        if symbol:
            where.append("o.id IN (SELECT order_id FROM legs WHERE symbol = ?)"), args.append(symbol)
        if status:
            where.append("o.status = ?"), args.append(status)
        if account:
            where.append("o.account = ?"), args.append(account)
        if before_seq:
            where.append("o.seq < ?"), args.append(before_seq)
        sql = "SELECT * FROM orders o" + (" WHERE " + " AND ".join(where) if where else "")
        db = self.conn()
        rows = db.execute(sql + " ORDER BY o.seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [self._with_children(db, r) for r in rows]

    def open_orders(self) -> list[dict]:
        db = self.conn()
        rows = db.execute("SELECT * FROM orders WHERE status IN (?, ?) ORDER BY seq", OPEN_STATUSES).fetchall()
        return [self._with_children(db, r) for r in rows]

    def positions(self, account: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM positions WHERE qty != 0", ()
        if account:
            sql, args = sql + " AND account = ?", (account,)
        return [dict(r) for r in self.conn().execute(sql + " ORDER BY account, symbol", args)]

    def max_seq(self) -> int:
        return self.conn().execute("SELECT COALESCE(MAX(seq), 0) FROM orders").fetchone()[0]

    def ping(self) -> None:
        self.conn().execute("SELECT 1").fetchone()

    def quick_check(self) -> str:
        """``PRAGMA quick_check``: "ok", or the first problems found (a corrupt page, a broken index)."""
        try:
            rows = [r[0] for r in self.conn().execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:  # "database disk image is malformed" can stop the check itself
            return str(exc)
        return "ok" if rows == ["ok"] else "; ".join(rows)

    @staticmethod
    def _with_children(db: sqlite3.Connection, row: sqlite3.Row) -> dict:
        order = dict(row)
        order["body"] = json.loads(order["body"])
        order["legs"] = [dict(r) for r in db.execute(
            "SELECT leg_no, symbol, side, ratio, qty, price, filled_qty FROM legs WHERE order_id = ? ORDER BY leg_no",
            (order["id"],))]
        order["fills"] = [dict(r) for r in db.execute(
            "SELECT fill_id, leg_no, symbol, venue, side, price, qty, liquidity, fee, exch_ts_ns, local_ts_ns, ts "
            "FROM fills WHERE order_id = ? ORDER BY fill_id", (order["id"],))]
        return order

