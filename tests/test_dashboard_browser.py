"""The dashboard in headless Chromium against the real suite (feed, service, monitor on loopback).

Skipped only when /usr/bin/chromium is absent. A screenshot lands in tests/artifacts/dashboard.png.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import seed_multi, seed_single
from tests.suite import suite, wait_for  # noqa: F401  (suite is the fixture)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).parent / "artifacts"
MARKUP = "<img src=x onerror=alert(1)><b>bold</b>"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)")]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, suite):
    """One dashboard tab; ``page.problems`` collects console errors, page errors and dialogs."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = ctx.new_page()
    tab.set_default_timeout(8000)
    tab.problems = []
    tab.on("console", lambda msg: msg.type == "error" and tab.problems.append(f"console: {msg.text}"))
    tab.on("pageerror", lambda exc: tab.problems.append(f"pageerror: {exc}"))
    tab.on("dialog", lambda dialog: (tab.problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    # orders first, so the page has something to show: two accepted, a duplicate and a bad tick rejected
    for body, path in ((seed_single(), "/orders"), (seed_multi(), "/orders/multi"), (seed_single(), "/orders"),
                       (seed_single(price=1.253, qty=3), "/orders")):
        suite.post(path, json=body)
    tab.goto(suite.url + "/dashboard")
    yield tab
    ctx.close()


def _page_numbers(page) -> dict:
    return page.evaluate("""() => {
        const bars = (id) => Object.fromEntries([...document.querySelectorAll(`#${id} g[data-key]`)]
            .map((g) => [g.dataset.key, Number(g.dataset.value)]));
        return {
          health: document.querySelector('#health-status').dataset.status,
          kill: document.querySelector('#kill-switch').dataset.state,
          fill_rate: document.querySelector('#fill-rate').dataset.value === ''
            ? null : Number(document.querySelector('#fill-rate').dataset.value),
          fills: Number(document.querySelector('#fill-counts').dataset.fills),
          venues: Object.fromEntries([...document.querySelectorAll('#venues li')]
            .map((li) => [li.dataset.venue, li.dataset.up === 'true'])),
          severity: Object.fromEntries([...document.querySelectorAll('#open-by-severity li')]
            .map((li) => [li.dataset.sev, Number(li.dataset.value)])),
          underlying: bars('chart-underlying'), venue: bars('chart-venue'), rejects: bars('chart-rejects'),
          incidents: [...document.querySelectorAll('#incidents tbody tr')].map((tr) => tr.dataset.id),
          checks: [...document.querySelectorAll('#checks tbody tr')].map((tr) => tr.dataset.check),
        };
    }""")


def _api_numbers(suite) -> dict:
    s = suite.get("/api/summary").json()
    health = suite.get("/health").json()
    o = s["orders"]
    return {"health": health["status"], "kill": s["trading_state"],
            "fill_rate": o["fill_rate"], "fills": o["fills"],
            "venues": {name.split(":")[0][len("route-"):]: c[0]["observedValue"] == 1
                       for name, c in health["checks"].items() if name.startswith("route-")},
            "severity": s["incidents"]["open_by_severity"],
            "underlying": o["by_underlying"], "venue": o["by_venue"], "rejects": o["reject_reasons"],
            "incidents": [r["incident_id"] for r in s["incidents"]["table"]], "checks": sorted(health["checks"])}


def test_page_loads_clean_and_shows_what_the_api_says(page, suite):
    page.wait_for_selector("#chart-underlying g[data-key]")
    api = wait_for(lambda: (lambda a, p: a if {**p, "checks": sorted(p["checks"])} == a else None)(
        _api_numbers(suite), _page_numbers(page)), timeout=10, interval=0.5, what="the page to match the API")
    assert api["underlying"] == {"AAPL": 2}
    assert api["rejects"] == {"DUPLICATE": 1, "BAD_TICK": 1}
    assert page.get_attribute("link[rel=stylesheet]", "href") == "/static/dashboard.css"
    assert page.locator("#last-updated").text_content() != "never"
    assert page.locator("#fetch-banner").is_hidden()
    assert page.problems == []


def test_markup_in_an_incident_summary_is_shown_as_text(page, suite):
    inc = suite.incident_log().trigger("market_crossed:markup-test", "market_crossed", "SEV4", MARKUP).incident
    row = page.locator(f'#incidents tr[data-id="{inc.incident_id}"]')
    row.wait_for()
    assert row.locator("td.summary").text_content() == MARKUP
    assert page.locator("#incidents img, #incidents b").count() == 0
    assert row.locator("a").get_attribute("href") == "/runbook#market-crossed"
    assert page.problems == []


def test_acknowledge_in_the_page_changes_the_incident_log(page, suite):
    ilog = suite.incident_log()
    assert suite.post("/admin/drills", json={"fault": "venue_down", "venue": "NOM"}, admin=True).status_code == 201
    try:
        inc = wait_for(lambda: ilog.find_open("routing_degraded:venues"), timeout=10,
                       what="the monitor's routing_degraded incident")
        row = page.locator(f'#incidents tr[data-id="{inc.incident_id}"]')
        row.wait_for()
        page.wait_for_selector('#venues li[data-venue="NOM"][data-up="false"]')

        row.locator("button.ack").click()  # no token yet
        assert "enter the admin token" in page.locator("#action-message").text_content()
        page.fill("#token", "wrong-token")
        page.click("#token-save")
        row.locator("button.ack").click()
        page.wait_for_selector("#action-message:has-text('Not authorised (HTTP 403)')")
        assert ilog.get(inc.incident_id).status == "open"

        page.fill("#token", suite.token)
        page.click("#token-save")
        assert page.evaluate("sessionStorage.getItem('optsim.adminToken')") == suite.token
        row.locator("button.ack").click()
        wait_for(lambda: ilog.get(inc.incident_id).status == "acknowledged", timeout=5, what="the ack in the log")
        assert ilog.get(inc.incident_id).acknowledged_by == "dashboard"
        page.wait_for_selector(f'#incidents tr[data-id="{inc.incident_id}"][data-status="acknowledged"]')
        page.locator(f'#incidents tr[data-id="{inc.incident_id}"] button.resolve').click()
        wait_for(lambda: ilog.get(inc.incident_id).status == "resolved", timeout=5, what="the resolve in the log")
    finally:
        suite.http.delete(suite.url + "/admin/drills", headers=suite.admin, timeout=5)
    page.wait_for_selector('#venues li[data-venue="NOM"][data-up="true"]')
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_drill_panel_shows_each_drills_last_runs_and_medians(page, suite):
    from optsim.ops.drills import log as drill_log
    for run_id, status, ttd in (("DRL-a", "passed", 2.0), ("DRL-b", "passed", 4.0), ("DRL-c", "failed", None)):
        drill_log.append(suite.data_dir, {"event": "finish", "run_id": run_id, "drill": "feed_stall",
                                          "title": "Feed stall", "status": status, "ttd_s": ttd, "tta_s": ttd,
                                          "ttm_s": ttd, "ttr_s": ttd, "reason": None if ttd else "no incident"})
    row = page.locator('#drill-history tr[data-drill="feed_stall"]')
    row.locator("li.run").nth(2).wait_for(timeout=15000)  # the panel refreshes every 5 s
    assert [li.get_attribute("data-status") for li in row.locator("li.run").all()] == ["failed", "passed", "passed"]
    assert row.locator('td[data-key="ttd_s"]').text_content() == "3.0 s"  # median of the passed runs
    assert page.locator("#drill-history .empty").is_hidden()
    assert not [p for p in page.problems if not p.endswith("status of 403 (FORBIDDEN)")]  # the ack test's own 403


def test_a_failed_fetch_raises_the_banner_and_recovery_clears_it(page):
    page.route("**/api/summary", lambda route: route.abort())
    page.wait_for_selector("#fetch-banner:has-text('Cannot reach the service')")
    page.unroute("**/api/summary")
    page.wait_for_selector("#fetch-banner", state="hidden")


def test_runbook_link_opens_the_served_runbook_at_its_section(page, suite):
    page.goto(suite.url + "/runbook#market-crossed")
    assert page.locator("#market-crossed").count() == 1
    assert "Symptoms" in page.locator("main").text_content()


def test_desk_panels_show_positions_risk_and_the_audit_log(page, suite):
    # a buy at a price through any offer fills at once: the page must show the position and its PnL
    filled = suite.post("/orders", json={**seed_single(price=30.00, qty=2), "client_order_id": "desk-1"})
    assert filled.json()["status"] == "filled", filled.json()
    page.goto(suite.url + "/dashboard")  # an earlier test left the tab on the runbook
    earlier = len(page.problems)  # the refused token and the aborted fetch of the tests above
    row = page.locator('#positions tbody tr[data-symbol="AAPL  250117C00200000"]')
    row.wait_for()
    assert row.locator("td").nth(2).text_content() == "2"
    api = suite.get("/positions").json()
    assert page.locator("#positions tbody tr").count() == api["count"]
    page.wait_for_selector('#risk-limits tr[data-limit="DEFAULT:portfolio_delta"]')
    page.wait_for_selector('#risk-limits tr[data-limit="firm:daily_loss"]')

    page.fill("#token", suite.token)
    page.click("#token-save")
    assert suite.post("/admin/kill-switch", json={"state": "REDUCING", "actor": "desk-test", "reason": "panel"},
                      admin=True).status_code == 200
    try:
        page.wait_for_selector("#risk-state[data-state='REDUCING']")
        page.wait_for_selector('#audit tr[data-action="kill_switch.set"]')
        assert page.locator('#audit tr[data-action="kill_switch.set"] td').nth(1).text_content() == "desk-test"
    finally:
        suite.post("/admin/kill-switch/release", json={"actor": "desk-test"}, admin=True)
    page.wait_for_selector("#risk-state[data-state='ACTIVE']")
    assert page.locator("#desk-error").is_hidden()
    assert page.problems[earlier:] == []
