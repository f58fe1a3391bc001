"""report.html in headless Chromium, offline: every plot renders, nothing is fetched, no console errors.

Skipped only when /usr/bin/chromium is absent. A screenshot lands in tests/artifacts/backtest_report.png.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from fillsim.synth import StreamSpec, synth_stream
from optsim.research.run import run_backtest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)")]

QUOTER = """
def quoter(bt, interval_ms=20):
    while bt.elapse(int(interval_ms * 1e6)):
        bt.cancel_all()
        if bt.position < 4:
            bt.buy(bt.best_bid, 1, tif="GTX")
        if bt.position > -4:
            bt.sell(bt.best_ask, 1, tif="GTX")
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("report")
    events, snapshot, _ = synth_stream(StreamSpec(n_events=20_000, seed=5, mean_dt_ns=1_000_000.0))
    np.savez(d / "stream.npz", data=events, snapshot=snapshot)
    (d / "quoter.py").write_text(QUOTER)
    summary = run_backtest(d / "stream.npz", f"{d / 'quoter.py'}:quoter", config={"fees": {"maker": -0.002}},
                           out_dir=d / "out")
    assert summary["fills"] > 20
    return d / "out" / "report.html"


def test_report_renders_offline_with_every_plot_and_no_errors(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    problems, fetched = [], []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("console", lambda msg: msg.type in ("error", "warning") and problems.append(msg.text))
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on("request", lambda req: not req.url.startswith(("data:", "file:")) and fetched.append(req.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            plots = page.evaluate("""() => [...document.querySelectorAll('figure img')].map(
                (img) => ({id: img.alt, complete: img.complete, width: img.naturalWidth, shown: img.clientWidth}))""")
            kpis = page.locator(".kpi").count()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "backtest_report.png"), full_page=True)
        finally:
            browser.close()
    assert [p["id"] for p in plots] == ["equity", "inventory", "price", "markout"]
    assert all(p["complete"] and p["width"] > 300 and p["shown"] > 300 for p in plots), plots
    assert kpis == 8
    assert problems == [] and fetched == []
