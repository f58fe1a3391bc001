"""The order desk: the order path from a validated request to a stored answer, and the order lifecycle.

parse (models) -> idempotency -> risk -> route -> fill step (execution) -> store -> answer.
Every change runs on the sequencer's one thread (``sequencer.py``), so risk sees every accepted order
before the next is checked, and an answer always follows the commit of its group. Everything the desk
keeps in memory (exposure, working orders, counters) is rebuilt from the store at start-up, and every
change to it while an order is handled is registered in the sequencer's ``Journal``, so the change is
undone when the order's writes roll back (a fill step that raised, a commit refused by a full disk).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import orjson

from ..domain.chain import Chain
from ..config import Config
from ..ops.drills.faults import ServiceFaults
from .execution import Execution, Report
from ..fileio import private_dir
from .journal import Journal
from ..ops.metrics import Metrics
from ..domain.occ import parse_symbol
from .positions import PositionBook
from ..market.quotes import QuoteBook
from .risk import Reject, RiskEngine, TradingState
from .router import HAND, Route, Router
from .sequencer import Sequencer
from ..domain.spec import LegSpec, OrderSpec
from ..ops.stats import Stats
from .store import FillRow, Store
from ..timefmt import rfc3339
from .trips import Trip, TripWire
from .venue_sim import FillsimExecution

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8192)  # answers and order lists name the same few series again and again
def _series_view(symbol: str) -> dict:
    """The series fields of a leg's public view (``OrderDesk.view``), in its key order; callers copy it."""
    sym = parse_symbol(symbol)
    return {"underlying": sym.root, "expiry": sym.expiry.isoformat(), "strike": float(sym.strike),
            "option_type": sym.right}


class DeskError(Exception):
    """A lifecycle request that cannot be honoured (unknown order, already closed)."""

    def __init__(self, status: int, error: str, message: str, order: dict | None = None, field: str = "order_id",
                 reason: str | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.order = status, error, message, order
        self.field, self.reason = field, reason or error.upper()


class OrderDesk:
    def __init__(self, config: Config, clock: Callable[[], float] = time.time, execution: Execution | None = None):
        self.config, self.clock = config, clock
        data_dir = Path(config.data_dir)
        private_dir(data_dir)
        self.chain = Chain(config)
        self.quotes = QuoteBook(data_dir, clock, config.service.quote_max_cross)
        self.store = Store(data_dir / "orders.db", config.service.durability)
        self.journal = Journal()
        self.risk = RiskEngine(config, self.chain, self.quotes, clock, journal=self.journal)
        self.router = Router(config, self.quotes)
        self.execution: Execution = execution or FillsimExecution(config, self.quotes)
        self.metrics = Metrics([v.name for v in config.venues], self.execution.engine)
        self.quotes.on_refused = lambda what, n: self.metrics.quotes_refused.labels(what).inc(n)
        self.stats = Stats()
        self.faults = ServiceFaults()
        self.book = PositionBook(self.quotes)
        self.trips = TripWire(config.trips)
        self.trading = self._stored_state()  # the trading state in force: state, actor, reason, source, ts
        self.risk.state = TradingState(self.trading["state"])
        self.metrics.set_state(self.risk.state.value, self.trading["source"] or "")
        self._working: dict[str, OrderSpec] = {}
        self._seq = self.store.max_seq()
        self._alerts: deque[tuple[str, str, str, str, dict]] = deque()  # incidents for the poll thread to open
        self._incident_log = None
        self.breaches: dict[str, dict] = {}  # exposure limit -> the latest order refused for it (GET /risk)
        self._restore()
        self._sequencer = Sequencer(self.store, self.journal)
        self._limits_cache: tuple[tuple | None, dict[str, float]] = (None, {})  # (books' version, snapshot seq)

    def close(self) -> None:
        self._sequencer.close()
        self.store.close()

    # ------------------------------------------------------------------ order entry
    def submit(self, spec: OrderSpec) -> tuple[int, dict]:
        """Run the order path; returns (HTTP status, order view). The order is committed before return."""
        self.quotes.pull()
        return self._sequencer.run(lambda db: self._submit(db, spec))

    def _submit(self, db, spec: OrderSpec) -> tuple[int, dict]:
        if spec.client_order_id:
            prior = self.store.find_client_order(spec.account, spec.client_order_id)
            if prior is not None:
                if prior["body"] == spec.body:
                    return 200, self.view(prior)
                return self._reject(db, spec, Reject(
                    "DUPLICATE", "client_order_id",
                    f"client_order_id {spec.client_order_id} was already used by {prior['id']} "
                    "with a different order", 409), keep_client_id=False)
        reject = self.risk.check(spec)
        route = None if reject else self.router.route(spec)
        if isinstance(route, Reject):
            reject = route
        if not reject and self.faults.venue_rejects():  # the venue refused it: the order names that venue
            return self._reject(db, spec, Reject("VENUE_REJECT", "", f"{route.venue} rejected the order "
                                                 "(reject storm drill)"), venue=route.venue)
        if reject:
            return self._reject(db, spec, reject)
        self.journal.after_commit(lambda: self.trips.on_order(None))
        return 201, self._accept(db, spec, route)

    def _accept(self, db, spec: OrderSpec, route: Route) -> dict:
        order_id = self._next_id()
        row, legs = self._order_row(order_id, spec, "working", self.clock(), venue=route.venue), self._leg_rows(spec)
        self.store.insert_order(db, row, legs)
        self._work(order_id, spec)
        self.risk.on_working(spec, spec.qty)
        self.risk.on_premium(spec.account, self.risk.notional(spec))
        self._count(self.metrics.orders.labels(spec.underlying, route.venue, "accepted"))
        self._tally(self.stats.order, spec.underlying, route.venue, "accepted")
        self._tally(self.stats.moved, None, "working")
        self.journal.undo(lambda: self.execution.forget(order_id))
        reports = self.execution.submit(order_id, spec, route)
        if reports:  # the venue filled or closed it: answer with what is stored now
            self._apply(db, reports)
            return self.view(self.store.get_order(order_id))
        return self.view(self._as_stored(row, legs, spec))

    def _reject(self, db, spec: OrderSpec, reject: Reject, keep_client_id: bool = True,
                venue: str | None = None) -> tuple[int, dict]:
        order_id = self._next_id()
        row = self._order_row(order_id, spec, "rejected", self.clock(), reason=reject.reason,
                              reason_field=reject.field, message=reject.message, venue=venue)
        if not keep_client_id:
            row["client_order_id"] = None
        legs = self._leg_rows(spec)
        self.store.insert_order(db, row, legs)
        self._count(self.metrics.orders.labels(spec.underlying, "none", "rejected"))
        self._count(self.metrics.rejects.labels(reject.reason))
        self._tally(self.stats.order, spec.underlying, None, "rejected", reject.reason)
        self._tally(self.stats.moved, None, "rejected")
        self.journal.after_commit(lambda: self._note_reject(order_id, spec, reject, row["created_at"]))
        return reject.status, self.view(self._as_stored(row, legs, spec))

    def _note_reject(self, order_id: str, spec: OrderSpec, reject: Reject, at: str) -> None:
        """After the reject is stored: feed the trip wire, and an exposure-limit reject shows in /risk and pages."""
        self.trips.on_order(reject.reason)
        if reject.limit:  # an order tried to go past an exposure limit: /risk shows it, ops hear of it (poll thread)
            self.breaches[reject.limit] = {"order_id": order_id, "account": spec.account, "reason": reject.reason,
                                           "message": reject.message, "at": at}
            self._alerts.append((f"risk_limit_breach:{reject.limit}", "risk_limit_breach", "SEV2",
                                 f"{order_id} rejected: {reject.message}",
                                 {"limit": reject.limit, "order_id": order_id, "reason": reject.reason,
                                  "account": spec.account, "cause": reject.message, "band": "pre_trade"}))

    def record_invalid(self) -> None:
        """Count a request that failed validation (not stored: there is no valid order to store).

        Not counted by the runaway trips: a malformed request never reaches a venue, so it carries no trading
        risk, and anyone who can reach the port could otherwise halt trading (cancelling every working order)
        with fifty bad bodies. It shows in the metrics and the monitor's reject_rate_spike instead."""
        self.metrics.orders.labels("unknown", "none", "invalid").inc()
        self.metrics.rejects.labels("VALIDATION").inc()
        self.stats.order(None, None, "invalid", "VALIDATION")

    # ------------------------------------------------------------------ lifecycle
    def cancel(self, order_id: str, cause: str = "client") -> dict:
        """Cancel a working order; raises DeskError 404 (unknown) or 409 (closed, or a fill won the race)."""
        error, order = self._sequencer.run(lambda db: self._cancel(db, order_id, cause))
        if error:  # raised out here: inside the job it would roll back the fills the venue reported
            raise error
        return order

    def _cancel(self, db, order_id: str, cause: str) -> tuple[DeskError | None, dict | None]:
        order = self.store.get_order(order_id)
        if order is None:
            return DeskError(404, "not_found", f"no order {order_id}"), None
        if order_id not in self._working:
            return DeskError(409, "conflict", f"order {order_id} is {order['status']}; nothing to cancel",
                             self.view(order)), None
        reports = self.execution.cancel(order_id)
        self._apply(db, reports, cause=cause)
        order = self.view(self.store.get_order(order_id))
        if order["status"] != "cancelled" and any(r.kind == "cancel_rejected" for r in reports):
            return DeskError(409, "conflict", f"cancel of {order_id} lost the race: the order is {order['status']}",
                             order), None
        return None, order

    def replace(self, order_id: str, price: Decimal | None, qty: int | None) -> dict:
        """Cancel/replace a working order to a new limit price and/or total quantity (filled counts against it).

        Risk judges the order as replaced (its old working exposure taken out first); a reject leaves the
        order as it was. Raises DeskError 404 (unknown), 409 (closed, or a fill won the race), or the reject's
        status with its reason and field.
        """
        self.quotes.pull()
        error, order = self._sequencer.run(lambda db: self._replace(db, order_id, price, qty))
        if error:
            raise error
        return order

    def _replace(self, db, order_id: str, price: Decimal | None, qty: int | None):
        order = self.store.get_order(order_id)
        if order is None:
            return DeskError(404, "not_found", f"no order {order_id}"), None
        spec = self._working.get(order_id)
        if spec is None:
            return DeskError(409, "conflict", f"order {order_id} is {order['status']}; nothing to replace",
                             self.view(order)), None
        if spec.kind == "single" and price is not None and price <= 0:
            return DeskError(422, "validation_failed", "Input should be greater than 0", self.view(order), "price",
                             "greater_than"), None
        if spec.order_type == "MARKET" and price is not None:
            return DeskError(422, "validation_failed", "a MARKET order has no limit price to replace",
                             self.view(order), "price", "PRICE_NOT_ALLOWED"), None
        filled, new_qty = order["filled_qty"], qty if qty is not None else spec.qty
        if new_qty <= filled:
            return DeskError(422, "validation_failed", f"qty {new_qty} is not above the {filled} already filled; "
                             "cancel the order to stop it", self.view(order), "qty", "QTY_BELOW_FILLED"), None
        new = dataclasses.replace(
            spec, qty=new_qty, limit_price=price if price is not None else spec.limit_price,
            legs=tuple(dataclasses.replace(leg, qty=leg.ratio * new_qty,
                                           price=price if spec.kind == "single" and price is not None else leg.price)
                       for leg in spec.legs))
        old_leaves, new_leaves = spec.qty - filled, new_qty - filled
        self.risk.on_working(spec, old_leaves, -1)
        self.risk.on_premium(spec.account, -self.risk.notional(spec) * old_leaves / spec.qty)
        reject = self.risk.check_replace(new, shrinks=new_qty <= spec.qty and new.limit_price == spec.limit_price)
        kept = spec if reject else new
        kept_leaves = old_leaves if reject else new_leaves
        self.risk.on_working(kept, kept_leaves)
        self.risk.on_premium(kept.account, self.risk.notional(kept) * kept_leaves / kept.qty)
        if reject:
            return DeskError(reject.status, "risk_reject", reject.message, self.view(order), reject.field,
                             reject.reason), None
        self._working[order_id] = new
        Store.update_order(db, order_id, qty=new_qty, updated_at=self.clock(),
                           limit_price=str(new.limit_price) if new.limit_price is not None else None)
        db.executemany("UPDATE legs SET qty = ?, price = ? WHERE order_id = ? AND leg_no = ?",
                       [(leg.qty, str(leg.price) if leg.price is not None else None, order_id, i)
                        for i, leg in enumerate(new.legs)])
        reports = self.execution.modify(order_id, new, new_leaves)
        self._apply(db, reports)
        if any(r.kind == "modify_rejected" for r in reports):  # fills reached the venue first and closed it
            self._unreplace(db, order_id, spec, new)
            return DeskError(409, "conflict", f"replace of {order_id} lost the race: a fill reached the venue first",
                             self.view(self.store.get_order(order_id))), None
        return None, self.view(self.store.get_order(order_id))

    def _unreplace(self, db, order_id: str, old: OrderSpec, new: OrderSpec) -> None:
        """Put back the order's old terms after the venue refused the replace (nothing of it was live)."""
        filled = db.execute("SELECT filled_qty FROM orders WHERE id = ?", (order_id,)).fetchone()["filled_qty"]
        if order_id in self._working:
            self.risk.on_working(new, new.qty - filled, -1)
            self.risk.on_working(old, max(old.qty - filled, 0))
            self._working[order_id] = old
        self.risk.on_premium(old.account, (self.risk.notional(old) / old.qty - self.risk.notional(new) / new.qty)
                             * max(old.qty - filled, 0))
        Store.update_order(db, order_id, qty=old.qty,
                           limit_price=str(old.limit_price) if old.limit_price is not None else None)
        db.executemany("UPDATE legs SET qty = ?, price = ? WHERE order_id = ? AND leg_no = ?",
                       [(leg.qty, str(leg.price) if leg.price is not None else None, order_id, i)
                        for i, leg in enumerate(old.legs)])
        if order_id in self._working:
            self._settle(db, order_id, old)

    def set_trading_state(self, state: TradingState, actor: str = "admin", reason: str = "", source: str = "manual",
                          audit: dict | None = None) -> list[str]:
        """Move the kill switch and store who, when and why; HALTED cancels every working order.

        The state, its audit entry and the cancels commit together, so a restart comes back in the stored
        state. Returns the orders cancelled.
        """
        return self._sequencer.run(lambda db: self._set_trading_state(db, state, actor, reason, source, audit))

    def _set_trading_state(self, db, state: TradingState, actor: str, reason: str, source: str,
                           audit: dict | None) -> list[str]:
        now = self.clock()
        previous = self.risk.state
        self.risk.state = state
        self.metrics.set_state(state.value, source)
        Store.insert_trading_state(db, state.value, actor, reason, source, now)
        self.trading = {"state": state.value, "actor": actor, "reason": reason, "source": source, "ts": now}
        cancelled = []
        if state is TradingState.HALTED:
            for order_id in list(self._working):
                self._apply(db, self.execution.cancel(order_id), cause="kill_switch")
                if order_id not in self._working:
                    cancelled.append(order_id)
        if state is TradingState.ACTIVE:
            self.trips.reset_rates(now)
        entry = {"ts": now, "actor": actor, "action": "kill_switch.set", "target": state.value, "reason": reason,
                 **(audit or {})}
        entry["details"] = {"from": previous.value, "to": state.value, "source": source, "cancelled": cancelled,
                            **entry.get("details", {})}
        Store.insert_audit(db, entry)
        return cancelled

    def mark_venue(self, venue: str, up: bool, by: str = HAND) -> None:
        """Mark a venue down or up for the router, by hand or for a drill, and store the marks in force: like
        the kill switch, a venue marked down stays down across a restart (committed before return)."""
        self.router.mark(venue, up, by)
        marks, now = self.router.marks(venue), self.clock()
        self._sequencer.run(lambda db: Store.set_venue_marks(db, venue, marks, now))
        self.update_gauges()

    def audit(self, entry: dict) -> None:
        """Append one entry to the audit log (who, what, when, from where, why); committed before return."""
        entry = {"ts": self.clock(), **entry}
        self._sequencer.run(lambda db: Store.insert_audit(db, entry))

    def poll(self) -> None:
        """Take a new snapshot and its prints, let resting orders fill (background thread).

        The order thread is asked for fills only when an order works; the gauges are read by /metrics itself.
        Then the session close (DAY orders expire), the automatic trips, the incidents they open, and the
        database checkpoint the order path leaves to this thread.
        """
        self.quotes.refresh()
        if self._working:
            self._sequencer.run(lambda db: self._apply(db, self.execution.on_market()))
        else:
            self.quotes.drain_trades()  # no order to fill: prints are history
        self._check_session(self.quotes.heartbeat())
        self._check_trips()
        self._open_incidents()
        self.store.checkpoint()  # here, not on an order's commit

    def in_order(self, fn: Callable):
        """Run ``fn(db)`` in order with the desk's changes: a consistent read of its books (views, not orders)."""
        return self._sequencer.run(fn)

    def risk_utilization(self) -> dict[str, float]:
        """Worst use of each risk limit, read in order with the changes to it (the loss limits included)."""
        util, net_pnl = self._limits_use()
        return {**util, **self.trips.loss_use(net_pnl)}

    def _limits_use(self) -> tuple[dict[str, float], float]:
        """The exposure limits' use and the net PnL, as of one moment in order with the orders.

        Read in the writer's turn (a copy of the books, microseconds); computed outside it, so orders do not
        wait; and kept until the books or the snapshot change, as /metrics, /health, the dashboard and the
        trips all ask for it within the same moment.
        """
        def read(db):
            snap = self.quotes.snapshot
            key = (self.risk.exposure.version, snap.seq if snap is not None else -1)
            same = self._limits_cache[0] == key
            return key, None if same else self.risk.exposure.copy(), self.book.net_pnl()

        key, exposure, net_pnl = self._sequencer.run(read)
        if exposure is None:
            return self._limits_cache[1], net_pnl
        util = self.risk.utilization(exposure)
        self._limits_cache = (key, util)
        return util, net_pnl

    # ------------------------------------------------------------------ trips, session close, incidents
    def _check_trips(self) -> None:
        """Judge the trips on the limits' use as of a moment ago (computed off the writer's turn, so orders do
        not wait for it); a trip that fires acts in order with the orders."""
        util, net_pnl = self._limits_use()

        def judge(db) -> Trip | None:
            fired = self.trips.evaluate(self.clock(), net_pnl, util, self.risk.state.value)
            if not fired:
                return None
            trip = fired[0]
            cancelled = self._set_trading_state(db, TradingState(trip.action), "auto", trip.summary,
                                                f"trip:{trip.cause}", {"action": "kill_switch.trip",
                                                                       "details": {"cause": trip.cause}})
            return dataclasses.replace(trip, details={**trip.details, "cancelled": cancelled})

        trip = self._sequencer.run(judge)
        if trip is None:
            return
        log.warning("automatic trip (%s): trading %s: %s", trip.cause, trip.action, trip.summary)
        self._alerts.append((f"risk_trip:{trip.cause}", "risk_trip", "SEV1" if trip.action == "HALTED" else "SEV2",
                             f"{trip.summary}; trading {trip.action}",
                             {"cause": trip.cause, "state": trip.action, "band": trip.action, **trip.details}))

    def _open_incidents(self) -> None:
        """Open the incidents the order path and the trips queued (file I/O off the order path)."""
        if not self._alerts:
            return
        ilog = self.incident_log()
        while self._alerts:
            key, kind, severity, summary, details = self._alerts.popleft()
            try:
                ilog.trigger(key, kind, severity, summary, details, actor="service")
            except OSError:
                log.exception("could not open incident %s", key)

    def incident_log(self):
        """The shared incident log, as the service writes to it (``source`` "service")."""
        if self._incident_log is None:
            from incident_logger import IncidentLog
            self._incident_log = IncidentLog.from_config(self.config, source="service")
        return self._incident_log

    def resolve_trips(self, actor: str, note: str) -> list[str]:
        """Resolve the open ``risk_trip`` incidents once trading is released; returns their ids."""
        ilog, done = self.incident_log(), []
        for inc in ilog.open_incidents():
            if inc.type == "risk_trip":
                try:
                    done.append(ilog.resolve(inc.incident_id, actor=actor, note=note, resolution="manual").incident_id)
                except Exception:  # resolved by someone else meanwhile
                    continue
        return done

    def _check_session(self, heartbeat: dict | None) -> None:
        """Expire DAY orders when the feed's session clock reaches the close of the trading date.

        The close is latched and stored (session ``closed_date``): a feed restarted after it, whose clock
        would start again at the open, does not reopen the market, nor does a service restart.
        """
        if self.risk.session_closed:
            return
        raw = heartbeat.get("session_time") if heartbeat else None
        try:
            now = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            now = None
        if now is None or now.date() != self.config.as_of or now.time() < self.config.service.market_close:
            return
        self.risk.session_closed = True
        expired = self._sequencer.run(self._close_session)
        log.info("session close %s: %d DAY orders expired", now.isoformat(), len(expired))

    def _close_session(self, db) -> list[str]:
        """Record the close of the trading date and expire its working DAY orders."""
        Store.set_session(db, "closed_date", self.config.as_of.isoformat())
        expired = []
        for order_id, spec in list(self._working.items()):
            if spec.time_in_force != "DAY":
                continue
            reports = [dataclasses.replace(r, kind="expired") if r.kind == "cancelled" else r
                       for r in self.execution.cancel(order_id)]
            self._apply(db, reports, cause="session_close")
            if order_id not in self._working:
                expired.append(order_id)
        return expired

    # ------------------------------------------------------------------ applying venue reports
    def _apply(self, db, reports: list[Report], cause: str = "venue") -> None:
        """Store what the venue did (fills, cancels, expiries) and move exposure."""
        if not reports:
            return
        touched: dict[str, OrderSpec] = {}
        for rep in reports:
            spec = self._working.get(rep.order_id)
            if spec is None:
                continue
            if rep.order_id not in touched:
                self._keep_venue_state(db, rep.order_id, spec)
            touched[rep.order_id] = spec
            if rep.kind == "fill":
                self._store_fill(db, rep, spec)
            elif rep.kind in ("cancelled", "expired", "rejected"):
                self._settle(db, rep.order_id, spec)  # fills reported before the close count first
                order = db.execute("SELECT qty, filled_qty, status FROM orders WHERE id = ?",
                                   (rep.order_id,)).fetchone()
                leaves = order["qty"] - order["filled_qty"]
                self._tally(self.stats.moved, order["status"], rep.kind)
                self.risk.on_working(spec, leaves, -1)
                self.risk.on_premium(spec.account, -self.risk.notional(spec) * leaves / spec.qty)
                noted = rep.kind == "cancelled" or (rep.kind == "expired" and cause != "venue")
                Store.update_order(db, rep.order_id, status=rep.kind, updated_at=self.clock(),
                                   message=f"{rep.kind} ({cause})" if noted else None)
                self._unwork(rep.order_id)
                self._count(self.metrics.cancels.labels(cause if rep.kind == "cancelled" else rep.kind))
            if rep.queue_ahead is not None:
                Store.update_order(db, rep.order_id, queue_ahead=rep.queue_ahead)
        for order_id, spec in touched.items():
            self._settle(db, order_id, spec)

    def _store_fill(self, db, rep: Report, spec: OrderSpec) -> None:
        leg = spec.legs[rep.leg_no]
        venue = db.execute("SELECT venue FROM orders WHERE id = ?", (rep.order_id,)).fetchone()["venue"]
        fees = self.router.venues[venue]
        fee = (fees.fee_make if rep.liquidity == "maker" else fees.fee_take) * rep.qty
        contract = self.chain.get(leg.symbol)
        multiplier = contract.multiplier if contract else 100
        Store.insert_fill(db, FillRow(rep.order_id, rep.leg_no, leg.symbol.padded, venue, leg.side, rep.price, rep.qty,
                                      rep.liquidity, fee, rep.exch_ts_ns, rep.local_ts_ns, self.clock()),
                          spec.underlying, spec.account, multiplier)
        self.journal.after_commit(lambda: self.book.on_fill(spec.account, leg.symbol.padded, spec.underlying,
                                                            multiplier, leg.side, rep.price, rep.qty, fee))
        self.risk.on_fill(spec.account, leg.symbol.padded, leg.side, rep.qty)
        self._count(self.metrics.fills.labels(venue))
        self._count(self.metrics.filled_contracts.labels(venue), rep.qty)
        self._tally(self.stats.fill, venue, rep.qty)

    def _settle(self, db, order_id: str, spec: OrderSpec) -> None:
        """Recompute filled packages, average (net) price and status of one order from its fills."""
        order = db.execute("SELECT qty, filled_qty, status FROM orders WHERE id = ?", (order_id,)).fetchone()
        legs = {r["leg_no"]: r for r in db.execute(
            "SELECT leg_no, SUM(qty) AS q, SUM(price * qty) AS pq FROM fills WHERE order_id = ? GROUP BY leg_no",
            (order_id,))}
        if not legs:
            return
        packages = min((legs[i]["q"] if i in legs else 0) // leg.ratio for i, leg in enumerate(spec.legs))
        avg = None
        if packages:
            avg = sum(leg.sign * leg.ratio * legs[i]["pq"] / legs[i]["q"] for i, leg in enumerate(spec.legs))
            avg = round(avg if spec.kind == "multi" else abs(avg), 6)
        newly = packages - order["filled_qty"]
        if newly > 0:
            self.risk.on_working(spec, newly, -1)
        status = order["status"]
        if status in ("working", "partially_filled"):
            status = "filled" if packages >= order["qty"] else "partially_filled" if packages else "working"
        if status != order["status"]:
            self._tally(self.stats.moved, order["status"], status)
        Store.update_order(db, order_id, filled_qty=packages, avg_price=avg, status=status, updated_at=self.clock())
        if status not in ("working", "partially_filled"):
            self._unwork(order_id)

    # ------------------------------------------------------------------ in-memory changes, undone on rollback
    def _work(self, order_id: str, spec: OrderSpec) -> None:
        self._working[order_id] = spec
        self.journal.undo(lambda: self._working.pop(order_id, None))

    def _unwork(self, order_id: str) -> None:
        spec = self._working.pop(order_id, None)
        if spec is not None:
            self.journal.undo(lambda: self._working.__setitem__(order_id, spec))

    def _tally(self, count: Callable[..., None], *args) -> None:
        """A dashboard tally (``Stats.order``, ``moved``, ``fill``): counted now, taken back on rollback."""
        count(*args)
        self.journal.undo(lambda: count(*args, n=-1))

    def _count(self, counter, n: float = 1) -> None:
        """A Prometheus counter cannot go down: it counts once the change is committed."""
        self.journal.after_commit(lambda: counter.inc(n))

    def _keep_venue_state(self, db, order_id: str, spec: OrderSpec) -> None:
        """Before a venue report is applied: on rollback, put the order back on its venue as the store has it."""
        row = db.execute("SELECT qty, filled_qty, venue FROM orders WHERE id = ?", (order_id,)).fetchone()
        leaves, venue = row["qty"] - row["filled_qty"], row["venue"]

        def reset() -> None:
            self.execution.forget(order_id)
            self.execution.restore(order_id, spec, venue, leaves)

        self.journal.undo(reset)

    # ------------------------------------------------------------------ views and gauges
    def view(self, order: dict) -> dict:
        """The public JSON shape of an order (``GET /orders/<id>``; schema ``Order`` in /openapi.json)."""
        legs = [{"leg_no": leg["leg_no"], "occ_symbol": leg["symbol"], **_series_view(leg["symbol"]),
                 "side": leg["side"], "ratio": leg["ratio"], "qty": leg["qty"],
                 "price": float(leg["price"]) if leg["price"] is not None else None,
                 "filled_qty": leg["filled_qty"]} for leg in order["legs"]]
        limit = Decimal(order["limit_price"]) if order["limit_price"] is not None else None
        created = rfc3339(order["created_at"])  # a new order's update time is its creation time: formatted once
        updated = created if order["updated_at"] == order["created_at"] else rfc3339(order["updated_at"])
        view = {
            "order_id": order["id"], "client_order_id": order["client_order_id"], "account": order["account"],
            "status": order["status"], "kind": order["kind"], "strategy_type": order["strategy_type"],
            "strategy_detected": order["strategy_detected"], "underlying": order["underlying"],
            "side": order["side"], "qty": order["qty"], "order_type": order["order_type"],
            "time_in_force": order["time_in_force"], "price": float(limit) if limit is not None else None,
            "venue": order["venue"], "filled_qty": order["filled_qty"],
            "leaves_qty": order["qty"] - order["filled_qty"] if order["status"] in ("working", "partially_filled") else 0,
            "avg_price": order["avg_price"], "queue_ahead": self._queue_ahead(order),
            "legs": legs, "fills": [self._fill_view(f) for f in order["fills"]],
            "reject": ({"reason": order["reason"], "field": order["reason_field"], "message": order["message"]}
                       if order["status"] == "rejected" else None),
            "created_at": created, "updated_at": updated,
        }
        if order["kind"] == "multi" and limit is not None:
            view["net_price"] = float(limit)
            view["net_type"] = "debit" if limit > 0 else "credit" if limit < 0 else "even"
        return view

    def _queue_ahead(self, order: dict) -> float | None:
        if order["status"] not in ("working", "partially_filled"):
            return None
        live = self.execution.queue_ahead(order["id"])
        return live if live is not None else order["queue_ahead"]

    @staticmethod
    def _fill_view(fill: dict) -> dict:
        return {"fill_id": fill["fill_id"], "leg_no": fill["leg_no"], "occ_symbol": fill["symbol"],
                "venue": fill["venue"], "side": fill["side"], "price": fill["price"], "qty": fill["qty"],
                "liquidity": fill["liquidity"], "fee": round(fill["fee"], 4), "exch_ts_ns": fill["exch_ts_ns"],
                "local_ts_ns": fill["local_ts_ns"], "ts": rfc3339(fill["ts"])}

    def update_gauges(self) -> None:
        m, snap = self.metrics, self.quotes.snapshot
        beat = self.quotes.beat_time(self.quotes.heartbeat())
        if beat is not None:
            m.heartbeat_ts.set(beat)
        if snap is not None:
            m.quote_age.set(self.quotes.age() or 0.0)
            m.feed_seq.set(snap.seq)
            m.locked_crossed.set(snap.locked_crossed)
            m.unusable_series.set(snap.unusable)
        m.snapshot_refused.set(1 if self.quotes.last_error else 0)
        m.missed_trades.set(self.quotes.missed_trades)
        for venue, up in self.router.status().items():
            m.route_up.labels(venue).set(1 if up else 0)
        for limit, ratio in self.risk_utilization().items():
            m.risk.labels(limit).set(ratio)
        pnl, held = self.in_order(lambda db: (self.book.net_pnl(),
                                              sum(1 for pos in self.book.positions.values() if pos.qty)))
        m.net_pnl.set(pnl)
        m.positions.set(held)
        m.open_orders.set(len(self._working))

    @property
    def working_count(self) -> int:
        return len(self._working)

    # ------------------------------------------------------------------ rows and restore
    def _next_id(self) -> str:
        self._seq += 1
        return f"ORD-{self._seq:08d}"

    def _order_row(self, order_id: str, spec: OrderSpec, status: str, now: float, **extra) -> dict:
        row = {"seq": self._seq, "id": order_id, "client_order_id": spec.client_order_id, "account": spec.account,
               "kind": spec.kind, "strategy_type": spec.strategy_type, "strategy_detected": spec.strategy_detected,
               "underlying": spec.underlying, "side": spec.side, "qty": spec.qty,
               "limit_price": str(spec.limit_price) if spec.limit_price is not None else None,
               "order_type": spec.order_type, "time_in_force": spec.time_in_force, "status": status,
               "created_at": now, "updated_at": now,
               "body": orjson.dumps(spec.body, option=orjson.OPT_SORT_KEYS).decode()}
        row.update(extra)
        return row

    @staticmethod
    def _as_stored(row: dict, legs: list[dict], spec: OrderSpec) -> dict:
        """The order as ``store.get_order`` would read it back, from the rows just inserted."""
        order = {"venue": None, "reason": None, "reason_field": None, "message": None, "filled_qty": 0,
                 "avg_price": None, "queue_ahead": None, **row, "body": spec.body}
        order["legs"] = [{**leg, "filled_qty": 0} for leg in legs]
        order["fills"] = []
        return order

    @staticmethod
    def _leg_rows(spec: OrderSpec) -> list[dict]:
        return [{"leg_no": i, "symbol": leg.symbol.padded, "side": leg.side, "ratio": leg.ratio, "qty": leg.qty,
                 "price": str(leg.price) if leg.price is not None else None} for i, leg in enumerate(spec.legs)]

    def _stored_state(self) -> dict:
        """The trading state in force when the service last stopped (ACTIVE on a fresh store)."""
        row = self.store.trading_state()
        if row is None:
            return {"state": "ACTIVE", "actor": "system", "reason": "initial state", "source": "start", "ts": None}
        return {k: row[k] for k in ("state", "actor", "reason", "source", "ts")}

    def _restore(self) -> None:
        """Rebuild exposure, positions, working orders and counters from the store after a restart.

        DAY orders from an earlier trading date expired at that day's close; they are closed here, not restored.
        """
        for pos in self.store.positions():
            self.risk.exposure.filled[(pos["account"], pos["symbol"])] += pos["qty"]
        self.book.load(self.store.all_fills(), self._multiplier)
        db = self.store.conn()
        for row in db.execute("SELECT account, SUM(ABS(CAST(limit_price AS REAL)) * 100 * CASE WHEN status IN "
                              "('working', 'partially_filled', 'filled') THEN qty ELSE filled_qty END) AS premium "
                              "FROM orders WHERE status != 'rejected' GROUP BY account"):
            self.risk.on_premium(row["account"], row["premium"] or 0.0)
        trading_date, today = self.store.session("trading_date"), self.config.as_of.isoformat()
        for order in self.store.open_orders():
            spec = self._spec_from_row(order)
            if spec.time_in_force == "DAY" and trading_date is not None and trading_date != today:
                self._expire_stored(db, order, spec, trading_date)
                continue
            self._working[order["id"]] = spec
            self.risk.on_working(spec, order["qty"] - order["filled_qty"])
            self.execution.restore(order["id"], spec, order["venue"], order["qty"] - order["filled_qty"])
        if trading_date != today:
            Store.set_session(db, "trading_date", today)
        self.risk.session_closed = self.store.session("closed_date") == today
        for mark in self.store.venue_marks():
            if mark["venue"] in self.router.venues:
                self.router.mark(mark["venue"], up=False, by=mark["marked_by"])
                if mark["marked_by"] != HAND:
                    self.faults.injected_at.setdefault(mark["marked_by"], mark["ts"])
        self.stats.load(db)

    def _expire_stored(self, db, order: dict, spec: OrderSpec, trading_date: str) -> None:
        leaves = order["qty"] - order["filled_qty"]
        self.risk.on_premium(spec.account, -self.risk.notional(spec) * leaves / spec.qty)
        Store.update_order(db, order["id"], status="expired", updated_at=self.clock(),
                           message=f"expired (session_close of {trading_date})")

    def _multiplier(self, symbol: str) -> int:
        contract = self.chain.get(symbol)
        return contract.multiplier if contract else 100

    @staticmethod
    def _spec_from_row(order: dict) -> OrderSpec:
        legs = tuple(LegSpec(parse_symbol(leg["symbol"]), leg["side"], leg["ratio"], leg["qty"],
                             Decimal(leg["price"]) if leg["price"] is not None else None) for leg in order["legs"])
        body = order["body"]
        return OrderSpec(kind=order["kind"], strategy_type=order["strategy_type"],
                         strategy_detected=order["strategy_detected"], legs=legs, qty=order["qty"],
                         limit_price=Decimal(order["limit_price"]) if order["limit_price"] is not None else None,
                         order_type=order["order_type"], time_in_force=order["time_in_force"],
                         account=order["account"], client_order_id=order["client_order_id"],
                         post_only=bool(body.get("post_only")) or body.get("time_in_force") in ("GTX", "ALO"),
                         body=body)
