"""The desk as a trader and an ops engineer see it: order types, cancel/replace, the session close, the durable
kill switch and its audit log, positions and PnL against the fills, and the automatic trips."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from incident_logger import IncidentLog
from optsim.config import load_config
from optsim.fileio import atomic_write_json
from options_service import create_app
from tests.conftest import ADMIN_TOKEN, AS_OF, seed_single
from tests.snapshots import write_snapshot

ATM_CALL = "AAPL  250117C00225000"


def order(**changes) -> dict:
    return {"strategy_type": "single", "underlying": "AAPL", "expiry": "2025-01-17", "strike": 225, "option_type": "C",
            "side": "BUY", "qty": 10, "price": 1.00, **changes}


@pytest.fixture
def make_app(tmp_path):
    """An app on ``tmp_path`` with config overrides; apps are closed at the end (several may share the dir)."""
    apps = []

    def make(**overrides):
        cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF,
                                                 "admin_token": ADMIN_TOKEN}, **overrides})
        if not (tmp_path / "quotes.json").exists():
            write_snapshot(cfg)
        app = create_app(cfg)
        apps.append(app)
        return app, app.test_client()

    yield make
    for app in apps:
        app.extensions["desk"].close()


def quote(app, symbol=ATM_CALL):
    desk = app.extensions["desk"]
    desk.quotes.refresh()
    return desk.quotes.quote(symbol)


# ---------------------------------------------------------------------- what is accepted
@pytest.mark.parametrize("price", [0, 0.0, -1.25])
def test_a_single_leg_limit_at_zero_or_below_is_a_422_naming_price(client, price):
    r = client.post("/orders", json=seed_single(price=price))
    assert r.status_code == 422
    assert [(d["field"], d["reason"]) for d in r.get_json()["details"]] == [("price", "greater_than")]
    assert client.get("/orders").get_json()["count"] == 0  # nothing stored as working


def test_an_aapl_195_200_205_butterfly_is_listed_and_accepted(client):
    legs = [{"underlying": "AAPL", "expiry": "2025-01-17", "strike": k, "option_type": "C", "side": s, "qty": q}
            for k, s, q in ((195, "BUY", 1), (200, "SELL", 2), (205, "BUY", 1))]
    r = client.post("/orders/multi", json={"strategy_type": "butterfly", "legs": legs, "price": 0.50})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["strategy_detected"] == "butterfly"


def test_strikes_are_listed_as_the_exchanges_list_them(app):
    strikes = app.extensions["desk"].chain.strikes
    aapl = [float(k) for k in strikes["AAPL"]]
    assert {217.5, 220.0, 222.5, 225.0, 227.5, 230.0} <= set(aapl)  # $2.50 near the money
    assert {195.0, 200.0, 205.0, 250.0, 255.0} <= set(aapl) and 197.5 not in aapl and 252.5 not in aapl  # $5 wings
    spy = [float(k) for k in strikes["SPY"]]
    assert {574.0, 575.0, 576.0} <= set(spy)  # $1 near the money


# ---------------------------------------------------------------------- time in force and post-only
def test_gtc_rests_like_day_and_says_so(client):
    r = client.post("/orders", json=order(time_in_force="GTC"))
    assert r.status_code == 201 and r.get_json()["status"] == "working"
    assert r.get_json()["time_in_force"] == "GTC"


def test_fok_larger_than_the_displayed_size_kills_without_a_fill(app, client):
    q = quote(app)
    r = client.post("/orders", json=order(price=q.ask, qty=q.ask_size + 5, time_in_force="FOK"))
    body = r.get_json()
    assert r.status_code == 201
    assert (body["status"], body["filled_qty"], body["fills"]) == ("expired", 0, [])


def test_fok_within_the_displayed_size_fills_in_full(app, client):
    q = quote(app)
    r = client.post("/orders", json=order(price=q.ask, qty=q.ask_size, time_in_force="FOK"))
    assert (r.get_json()["status"], r.get_json()["filled_qty"]) == ("filled", q.ask_size)


def test_ioc_fills_what_is_shown_and_expires_the_rest(app, client):
    q = quote(app)
    body = client.post("/orders", json=order(price=q.ask, qty=q.ask_size + 5, time_in_force="IOC")).get_json()
    assert (body["status"], body["filled_qty"]) == ("expired", q.ask_size)


@pytest.mark.parametrize("flags", [{"post_only": True}, {"time_in_force": "GTX"}, {"time_in_force": "ALO"}])
def test_post_only_that_would_take_is_refused_with_its_field(app, client, flags):
    q = quote(app)
    r = client.post("/orders", json=order(price=q.ask, **flags))
    assert r.status_code == 422
    assert r.get_json()["reason"] == "POST_ONLY_WOULD_CROSS"
    assert r.get_json()["details"][0]["field"] == "price"


def test_post_only_inside_the_spread_rests(app, client):
    q = quote(app)
    r = client.post("/orders", json=order(price=round(q.bid + 0.05, 2), post_only=True, time_in_force="GTC"))
    assert (r.status_code, r.get_json()["status"]) == (201, "working")


@pytest.mark.parametrize("changes, field", [({"post_only": True, "time_in_force": "IOC"}, "time_in_force"),
                                            ({"post_only": True, "order_type": "MARKET", "price": None}, "post_only")])
def test_post_only_with_a_taking_order_type_is_a_422(client, changes, field):
    body = {k: v for k, v in order(**changes).items() if v is not None}
    r = client.post("/orders", json=body)
    assert r.status_code == 422
    assert (field, "POST_ONLY_CONFLICT") in [(d["field"], d["reason"]) for d in r.get_json()["details"]]


# ---------------------------------------------------------------------- cancel/replace
def test_replace_down_in_size_keeps_the_queue_place_and_a_price_change_loses_it(app, client):
    q = quote(app)
    probe = client.post("/orders", json=order(price=0.5, qty=1)).get_json()  # where a resting bid goes
    bid = q.venues[probe["venue"]].bid
    first = client.post("/orders", json=order(price=bid, qty=10)).get_json()
    assert first["venue"] == probe["venue"] and first["queue_ahead"] > 0  # behind the venue's displayed bid
    smaller = client.patch(f"/orders/{first['order_id']}", json={"qty": 6})
    assert smaller.status_code == 200
    assert (smaller.get_json()["qty"], smaller.get_json()["queue_ahead"]) == (6, first["queue_ahead"])
    repriced = client.post(f"/orders/{first['order_id']}/replace", json={"price": round(bid - 0.05, 2)}).get_json()
    assert repriced["price"] == round(bid - 0.05, 2) and repriced["legs"][0]["price"] == round(bid - 0.05, 2)
    assert repriced["queue_ahead"] == 0  # alone at the new price: the back of an empty queue


def test_replace_through_the_offer_fills_and_reports_the_fill(app, client):
    q = quote(app)
    working = client.post("/orders", json=order(price=q.bid, qty=5)).get_json()
    offer = q.venues[working["venue"]].ask  # the order lives at its venue: it crosses that venue's offer
    r = client.patch(f"/orders/{working['order_id']}", json={"price": offer})
    assert r.status_code == 200
    assert (r.get_json()["status"], r.get_json()["filled_qty"], r.get_json()["fills"][0]["price"]) == \
        ("filled", 5, offer)


def test_replace_of_a_filled_order_is_a_409_with_the_order(app, client):
    q = quote(app)
    filled = client.post("/orders", json=order(price=q.ask, qty=2)).get_json()
    r = client.patch(f"/orders/{filled['order_id']}", json={"price": q.bid})
    assert r.status_code == 409 and r.get_json()["order"]["status"] == "filled"


@pytest.mark.parametrize("body, field, reason", [({"price": 0}, "price", "greater_than"),
                                                 ({}, "", "missing"), ({"qty": 0}, "qty", "greater_than_equal"),
                                                 ({"price": 1.0, "side": "SELL"}, "side", "extra_forbidden"),
                                                 ({"price": 1.003}, "price", "BAD_TICK")])
def test_a_bad_replace_is_a_4xx_naming_the_field_and_leaves_the_order(client, body, field, reason):
    working = client.post("/orders", json=order()).get_json()
    r = client.patch(f"/orders/{working['order_id']}", json=body)
    assert r.status_code == 422, r.get_json()
    assert (field, reason) in [(d["field"], d["reason"]) for d in r.get_json()["details"]]
    after = client.get(f"/orders/{working['order_id']}").get_json()
    assert (after["status"], after["price"], after["qty"]) == ("working", 1.0, 10)


def test_replace_of_an_unknown_order_is_a_404(client):
    assert client.patch("/orders/ORD-99999999", json={"price": 1.0}).status_code == 404


def test_replace_of_a_multi_leg_order_moves_its_net_price(client):
    legs = [{"underlying": "AAPL", "expiry": "2025-01-17", "strike": k, "option_type": "C", "side": s, "qty": 2}
            for k, s in ((225, "BUY"), (230, "SELL"))]
    placed = client.post("/orders/multi", json={"strategy_type": "vertical", "legs": legs, "price": 0.5}).get_json()
    r = client.patch(f"/orders/{placed['order_id']}", json={"price": 0.75, "qty": 3})
    assert r.status_code == 200
    assert (r.get_json()["net_price"], r.get_json()["qty"], r.get_json()["legs"][0]["qty"]) == (0.75, 3, 3)


# ---------------------------------------------------------------------- the session close
def session_at(app, time_of_day: str) -> None:
    """The feed's heartbeat as it reads at ``time_of_day`` on the trading date."""
    data_dir = Path(app.config["OPTSIM_CONFIG"].data_dir)
    hb = json.loads((data_dir / "feed_heartbeat.json").read_text())
    atomic_write_json(data_dir / "feed_heartbeat.json", {**hb, "session_time": f"{AS_OF}T{time_of_day}"})


def test_day_orders_expire_at_the_close_and_gtc_orders_stay(make_app):
    app, client = make_app()
    session_at(app, "15:59:59")
    day = client.post("/orders", json=order()).get_json()
    gtc = client.post("/orders", json=order(price=1.05, time_in_force="GTC")).get_json()
    app.extensions["desk"].poll()
    assert client.get(f"/orders/{day['order_id']}").get_json()["status"] == "working"

    session_at(app, "16:00:00")
    app.extensions["desk"].poll()

    expired = client.get(f"/orders/{day['order_id']}").get_json()
    assert (expired["status"], expired["leaves_qty"]) == ("expired", 0)
    assert client.get(f"/orders/{gtc['order_id']}").get_json()["status"] == "working"
    late = client.post("/orders", json=order(price=1.10))
    assert (late.status_code, late.get_json()["reason"]) == (403, "MARKET_CLOSED")


def test_the_close_is_latched_when_a_restarted_feed_turns_its_clock_back(make_app):
    app, client = make_app()
    session_at(app, "16:00:00")
    app.extensions["desk"].poll()
    session_at(app, "15:59:03")  # a feed restarted at session_open
    app.extensions["desk"].poll()
    late = client.post("/orders", json=order())
    assert (late.status_code, late.get_json()["reason"]) == (403, "MARKET_CLOSED")


def test_the_close_survives_a_service_restart_on_the_same_date(make_app):
    app, _ = make_app()
    session_at(app, "16:00:00")
    app.extensions["desk"].poll()
    app.extensions["desk"].close()
    session_at(app, "15:59:03")

    _, again = make_app()
    late = again.post("/orders", json=order())
    assert (late.status_code, late.get_json()["reason"]) == (403, "MARKET_CLOSED")


def test_day_orders_of_an_earlier_trading_date_are_expired_at_start(make_app, tmp_path):
    app, client = make_app()
    day = client.post("/orders", json=order()).get_json()
    gtc = client.post("/orders", json=order(price=1.05, time_in_force="GTC")).get_json()
    app.extensions["desk"].close()

    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": "2025-01-03",
                                             "admin_token": ADMIN_TOKEN}})
    write_snapshot(cfg)
    next_day = create_app(cfg)
    try:
        c = next_day.test_client()
        assert c.get(f"/orders/{day['order_id']}").get_json()["status"] == "expired"
        assert c.get(f"/orders/{gtc['order_id']}").get_json()["status"] == "working"
    finally:
        next_day.extensions["desk"].close()


# ---------------------------------------------------------------------- kill switch and audit
def test_halted_survives_a_restart_with_who_when_and_why(make_app, admin):
    app, client = make_app()
    client.post("/orders", json=order())
    r = client.post("/admin/kill-switch", json={"state": "HALTED", "actor": "alice", "reason": "bad fills"},
                    headers=admin)
    assert r.get_json()["cancelled"] == ["ORD-00000001"]
    app.extensions["desk"].close()

    _, again = make_app()

    state = again.get("/admin/kill-switch", headers=admin).get_json()
    assert (state["state"], state["set_by"], state["reason"], state["source"]) == ("HALTED", "alice", "bad fills",
                                                                                   "manual")
    assert again.post("/orders", json=order(price=1.10)).status_code == 403
    assert again.get("/risk").get_json()["trading_state"]["state"] == "HALTED"


def test_risk_with_nothing_held_shows_the_limits_in_force(client, app):
    client.post("/orders", json=order())
    client.post("/admin/kill-switch", json={"state": "HALTED"}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    # Act: the halt cancelled the one working order, so the account holds nothing
    [account] = client.get("/risk").get_json()["accounts"]
    # Assert
    lim = app.extensions["desk"].config.risk
    caps = {name: account["limits"][name]["limit"] for name in ("position", "delta", "vega")}
    assert caps == {"position": lim.position_limit, "delta": lim.delta_limit, "vega": lim.vega_limit}
    assert all(account["limits"][name]["utilization"] == 0 for name in caps)


def test_every_admin_action_is_in_the_audit_log(client, admin, app):
    client.post("/admin/kill-switch", json={"state": "REDUCING", "reason": "pre-close"}, headers=admin)
    client.post("/admin/kill-switch/release", json={"actor": "bob"}, headers=admin)
    client.post("/admin/venues/BOX", json={"status": "down", "reason": "drill"}, headers=admin)
    client.post("/admin/drills", json={"fault": "latency_spike", "ms": 5}, headers=admin)
    client.delete("/admin/drills/latency_spike", headers=admin)
    inc = app.extensions["desk"].incident_log().trigger("route_down:BOX", "route_down", "SEV3", "BOX down").incident
    client.post(f"/incidents/{inc.incident_id}/ack", json={"actor": "carol", "note": "mine"}, headers=admin)

    entries = client.get("/admin/audit", headers=admin).get_json()["entries"]

    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("incident.ack", inc.incident_id, "carol"), ("drill.clear", "latency_spike", "admin"),
        ("drill.inject", "latency_spike", "admin"), ("venue.mark", "BOX", "admin"),
        ("kill_switch.set", "ACTIVE", "bob"), ("kill_switch.set", "REDUCING", "admin")]
    assert all(e["remote_addr"] == "127.0.0.1" and e["ts"].endswith("Z") for e in entries)
    assert entries[-1]["reason"] == "pre-close" and entries[-1]["details"]["from"] == "ACTIVE"


def test_cli_acks_and_resolves_are_in_the_audit_log_while_the_service_runs(client, admin, app, config):
    from incident_logger import main as incident_cli
    inc = app.extensions["desk"].incident_log().trigger("route_down:BOX", "route_down", "SEV3", "BOX down").incident
    client.post("/admin/venues/BOX", json={"status": "down"}, headers=admin)  # the service's writer is in use
    assert incident_cli(["--data-dir", str(config.data_dir), "ack", inc.incident_id, "--actor", "dave",
                         "--note", "on it"]) == 0
    assert incident_cli(["--data-dir", str(config.data_dir), "resolve", inc.incident_id, "--actor", "dave"]) == 0

    entries = client.get("/admin/audit?action=incident", headers=admin).get_json()["entries"]

    assert [(e["action"], e["target"], e["actor"]) for e in entries] == [
        ("incident.resolve", inc.incident_id, "dave"), ("incident.ack", inc.incident_id, "dave")]
    assert entries[1]["reason"] == "on it"


def test_the_audit_log_needs_the_admin_token_and_checks_its_filters(client, admin):
    assert client.get("/admin/audit").status_code == 401
    r = client.get("/admin/audit?limit=0&color=red", headers=admin)
    assert r.status_code == 422
    assert {d["field"] for d in r.get_json()["details"]} == {"limit", "color"}
    bogus = client.get("/admin/audit?action=bogus", headers=admin)
    assert bogus.status_code == 422 and bogus.get_json()["error"] == "validation_failed"
    [problem] = bogus.get_json()["details"]
    assert (problem["field"], problem["reason"]) == ("action", "INVALID_CHOICE")
    assert "incident.ack" in problem["message"]
    for action in ("incident", "kill_switch.set", "drill"):
        assert client.get(f"/admin/audit?action={action}", headers=admin).status_code == 200


# ---------------------------------------------------------------------- positions and PnL
def test_positions_and_pnl_agree_with_the_fills_to_the_cent(app, client):
    q = quote(app)
    put = "AAPL  250117P00220000"
    pq = quote(app, put)
    for body in (order(price=q.ask, qty=7), order(price=q.ask, qty=5),  # buy 12 calls at the offer
                 order(side="SELL", price=q.bid, qty=9),  # sell 9 back at the bid: realizes a loss
                 order(side="SELL", price=q.bid, qty=8),  # through zero: 5 short
                 order(strike=220, option_type="P", side="SELL", price=pq.bid, qty=4)):
        assert client.post("/orders", json=body).get_json()["status"] == "filled"

    fills = [f for o in client.get("/orders").get_json()["orders"] for f in o["fills"]]
    view = client.get("/positions").get_json()

    by_symbol = {p["occ_symbol"]: p for p in view["positions"]}
    cash, fees = {}, {}
    for f in fills:
        sign = 1 if f["side"] == "BUY" else -1
        cash[f["occ_symbol"]] = cash.get(f["occ_symbol"], 0.0) - sign * f["price"] * f["qty"] * 100
        fees[f["occ_symbol"]] = fees.get(f["occ_symbol"], 0.0) + f["fee"]
    for symbol, pos in by_symbol.items():
        held = sum((1 if f["side"] == "BUY" else -1) * f["qty"] for f in fills if f["occ_symbol"] == symbol)
        assert pos["qty"] == held
        expected = cash[symbol] + held * pos["mark"] * 100  # what the fills paid plus what is held, at the mark
        assert round(pos["realized_pnl"] + pos["unrealized_pnl"], 2) == round(expected, 2)
        assert pos["fees"] == round(fees[symbol], 2)
    assert by_symbol[ATM_CALL]["qty"] == -5 and by_symbol[ATM_CALL]["avg_price"] == q.bid
    assert by_symbol[ATM_CALL]["realized_pnl"] == round((q.bid - q.ask) * 12 * 100, 2)
    assert by_symbol[ATM_CALL]["mark"] == round((q.bid + q.ask) / 2, 6)
    total = view["total"]
    assert total["net_pnl"] == round(sum(cash.values()) + sum(p["market_value"] for p in by_symbol.values())
                                     - sum(fees.values()), 2)
    assert by_symbol[put]["delta"] > 0 and by_symbol[put]["vega"] < 0 and by_symbol[put]["theta"] > 0


def test_positions_survive_a_restart(make_app):
    app, client = make_app()
    q = quote(app)
    client.post("/orders", json=order(price=q.ask, qty=3))
    before = client.get("/positions").get_json()
    app.extensions["desk"].close()
    _, again = make_app()
    assert again.get("/positions").get_json() == before


# ---------------------------------------------------------------------- limits and trips
def open_incidents(app, kind: str) -> list:
    ilog = IncidentLog.from_config(app.config["OPTSIM_CONFIG"], source="test")
    return [i for i in ilog.open_incidents() if i.type == kind]


def test_a_loss_limit_trip_halts_cancels_and_opens_an_incident_with_its_cause(make_app, admin):
    app, client = make_app(trips={"daily_loss_limit": 50.0})
    q = quote(app)
    resting = client.post("/orders", json=order(price=q.bid, qty=2)).get_json()
    client.post("/orders", json=order(price=q.ask, qty=10))  # bought at the offer, marked at the mid: a loss

    app.extensions["desk"].poll()

    state = client.get("/admin/kill-switch", headers=admin).get_json()
    assert (state["state"], state["set_by"], state["source"]) == ("HALTED", "auto", "trip:daily_loss")
    assert client.get(f"/orders/{resting['order_id']}").get_json()["status"] == "cancelled"
    [incident] = open_incidents(app, "risk_trip")
    assert incident.dedup_key == "risk_trip:daily_loss" and incident.severity == "SEV1"
    assert incident.details["cause"] == "daily_loss" and incident.details["net_pnl"] < -50
    assert incident.details["cancelled"] == [resting["order_id"]]
    audit = client.get("/admin/audit", headers=admin).get_json()["entries"][0]
    assert (audit["action"], audit["actor"], audit["details"]["cause"]) == ("kill_switch.trip", "auto", "daily_loss")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'optsim_trip_active{cause="daily_loss",state="HALTED"} 1.0' in metrics  # the risk_trip alert's series
    net_pnl = float(re.search(r"^optsim_net_pnl_dollars (\S+)$", metrics, re.M).group(1))
    assert net_pnl == pytest.approx(incident.details["net_pnl"], abs=1.0) and net_pnl < -50

    # released by hand: trading resumes, the trip's incident is resolved, and the same loss does not re-trip
    released = client.post("/admin/kill-switch/release", json={"reason": "loss understood"}, headers=admin).get_json()
    assert released["resolved_incidents"] == [incident.incident_id]
    app.extensions["desk"].poll()
    assert client.get("/admin/kill-switch", headers=admin).get_json()["state"] == "ACTIVE"
    assert "optsim_trip_active{" not in client.get("/metrics").get_data(as_text=True)


def test_a_portfolio_delta_breach_shows_in_risk_and_opens_an_incident(make_app):
    app, client = make_app(risk={"portfolio_delta_limit": 200_000.0})
    q = quote(app)
    assert client.post("/orders", json=order(price=q.ask, qty=5)).get_json()["status"] == "filled"
    r = client.post("/orders", json=order(price=q.ask, qty=15))
    assert (r.status_code, r.get_json()["reason"]) == (422, "GREEKS_LIMIT"), r.get_json()

    risk = client.get("/risk").get_json()
    app.extensions["desk"].poll()

    use = risk["accounts"][0]["limits"]["portfolio_delta"]
    assert use["limit"] == 200_000.0 and 0.2 < use["utilization"] < 1.0
    assert risk["utilization"]["portfolio_delta"] == use["utilization"]
    breach = risk["breaches"]["portfolio_delta"]
    assert (breach["order_id"], breach["reason"]) == (r.get_json()["order"]["order_id"], "GREEKS_LIMIT")
    [incident] = open_incidents(app, "risk_limit_breach")
    assert incident.dedup_key == "risk_limit_breach:portfolio_delta"
    assert "portfolio dollar delta" in incident.details["cause"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'optsim_risk_utilization_ratio{{limit="portfolio_delta"}} {use["utilization"]}' in metrics


def test_a_reject_storm_trips_the_reject_rate_runaway(make_app, admin):
    app, client = make_app(trips={"reject_rate": 0.5, "reject_rate_min_orders": 10})
    desk = app.extensions["desk"]
    desk.poll()
    for n in range(12):
        client.post("/orders", json=order(strike=216 + n % 2))  # not listed
    desk.poll()
    state = client.get("/admin/kill-switch", headers=admin).get_json()
    assert (state["state"], state["source"]) == ("HALTED", "trip:reject_rate")
    assert open_incidents(app, "risk_trip")[0].details["rejected"] == 12


def test_malformed_requests_do_not_trip_the_runaway_or_cancel_working_orders(make_app, admin):
    """Bad bodies never reach a venue: they are counted and answered 4xx, but they cannot halt trading."""
    app, client = make_app(trips={"reject_rate": 0.5, "reject_rate_min_orders": 10, "max_order_rate": 1.0})
    desk = app.extensions["desk"]
    resting = client.post("/orders", json=order()).get_json()
    assert resting["status"] == "working"
    desk.poll()
    for n in range(60):
        r = client.post("/orders", json=order(qty=-n) if n % 2 else {"legs": "nope"})
        assert r.status_code in (400, 422), r.get_json()
    desk.poll()
    state = client.get("/admin/kill-switch", headers=admin).get_json()
    assert state["state"] == "ACTIVE", state
    assert not open_incidents(app, "risk_trip")
    assert client.get(f"/orders/{resting['order_id']}").get_json()["status"] == "working"
    assert 'optsim_orders_total{status="invalid",underlying="unknown",venue="none"} 60.0' in \
        client.get("/metrics").get_data(as_text=True)


def test_a_limit_breached_on_the_marks_moves_trading_to_reducing(make_app, admin):
    app, client = make_app()
    q = quote(app)
    client.post("/orders", json=order(price=q.ask, qty=20))
    app.extensions["desk"].close()
    app, client = make_app(risk={"delta_limit": 500.0})  # the limit is lowered under an existing position

    app.extensions["desk"].poll()

    state = client.get("/admin/kill-switch", headers=admin).get_json()
    assert (state["state"], state["source"]) == ("REDUCING", "trip:limit_breach")
    assert open_incidents(app, "risk_trip")[0].severity == "SEV2"


def test_the_runbook_has_a_complete_section_for_the_trip_incident():
    from tests.test_runbook import PARTS, section

    text = section("risk-trip")
    assert "risk_trip" in text.splitlines()[2]
    assert all(part in text for part in PARTS)
    assert "```powershell" in text and "python incident_logger.py" in text


# ---------------------------------------------------------------------- the trip wire alone
def wire(**cfg):
    from optsim.config import TripsConfig
    from optsim.trading.trips import TripWire

    return TripWire(TripsConfig(**cfg))


def test_drawdown_is_measured_from_the_days_high():
    w = wire(daily_loss_limit=0, drawdown_limit=100.0)
    assert w.evaluate(0.0, 250.0, {}, "ACTIVE") == []
    assert w.evaluate(1.0, 160.0, {}, "ACTIVE") == []
    [trip] = w.evaluate(2.0, 150.0, {}, "ACTIVE")
    assert (trip.cause, trip.action, trip.details["high"], trip.details["drawdown"]) == ("drawdown", "HALTED", 250.0,
                                                                                         100.0)


def test_an_order_rate_runaway_trips_once_and_rearms_when_it_clears():
    w = wire(max_order_rate=10.0, window_s=2.0, reject_rate=0)
    w.evaluate(0.0, 0.0, {}, "ACTIVE")
    for _ in range(30):
        w.on_order(None)
    [trip] = w.evaluate(1.5, 0.0, {}, "ACTIVE")
    assert (trip.cause, trip.details["orders"]) == ("order_rate", 30)
    for _ in range(30):
        w.on_order(None)
    assert w.evaluate(2.5, 0.0, {}, "ACTIVE") == []  # released by hand while it still runs: not overruled
    assert w.evaluate(6.0, 0.0, {}, "ACTIVE") == []  # quiet: re-armed
    for _ in range(60):  # 60 since the last sample at or before the window's start (t=2.5): 12/s
        w.on_order(None)
    assert [t.cause for t in w.evaluate(7.5, 0.0, {}, "ACTIVE")] == ["order_rate"]


def test_rejects_from_the_kill_switch_itself_do_not_count():
    w = wire(reject_rate=0.5, reject_rate_min_orders=5)
    w.evaluate(0.0, 0.0, {}, "ACTIVE")
    for _ in range(10):
        w.on_order("HALTED")
    assert w.evaluate(1.0, 0.0, {}, "ACTIVE") == []


def test_a_reject_burst_right_after_a_release_trips_at_the_first_poll():
    """The release is the baseline: the first poll after it must not take its own counts as the start."""
    w = wire(reject_rate=0.5, reject_rate_min_orders=5)
    w.evaluate(0.0, 0.0, {}, "HALTED")
    w.reset_rates(1.0)  # released by hand
    for _ in range(20):
        w.on_order("BAD_TICK")
    assert [t.cause for t in w.evaluate(2.0, 0.0, {}, "ACTIVE")] == ["reject_rate"]


def test_a_trip_found_already_halted_does_not_fire_after_the_release():
    w = wire(daily_loss_limit=100.0)
    assert w.evaluate(0.0, -150.0, {}, "HALTED") == []  # a restart into HALTED with the loss still there
    assert w.evaluate(1.0, -150.0, {}, "ACTIVE") == []  # the operator released: their call
    assert w.evaluate(2.0, -50.0, {}, "ACTIVE") == []
    assert [t.cause for t in w.evaluate(3.0, -120.0, {}, "ACTIVE")] == ["daily_loss"]  # a new breach trips
