"""The online face: reports in time order, many instruments, edge checks, jitter, threads."""
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

import fillsim
from fillsim import BUY, SELL, OrderStatus, ReportKind

CFG = {"tick_size": 0.05, "entry_latency_ns": 100, "response_latency_ns": 50}


@pytest.fixture(params=["cython", "python"])
def engine(request):
    return request.param


def quoted(engine, config=CFG, instruments=("SPY 250117C00500000",)):
    eng = fillsim.OnlineEngine(config, engine=engine)
    for inst in instruments:
        eng.depth(inst, BUY, 2.00, 10, 0)
        eng.depth(inst, SELL, 2.10, 10, 0)
    return eng


class TestReports:
    def test_advance_returns_only_what_has_reached_us_and_keeps_the_rest(self, engine):
        eng = quoted(engine)
        eng.submit(1, "SPY 250117C00500000", BUY, 2.10, 3, 1_000)
        assert eng.advance(1_149) == []
        reports = eng.advance(1_150)
        assert [r.kind for r in reports] == [ReportKind.ACK, ReportKind.FILL]
        fill = reports[1]
        assert (fill.exec_px, fill.exec_qty, fill.leaves_qty, fill.maker) == (pytest.approx(2.10), 3.0, 0.0, False)
        assert (fill.exch_ts, fill.local_ts) == (1_100, 1_150)
        assert eng.advance(10_000) == []

    def test_reports_come_back_in_time_order_across_instruments(self, engine):
        eng = quoted(engine, instruments=("A", "B"))
        eng.submit(1, "A", BUY, 2.00, 1, 0)
        eng.submit(2, "B", SELL, 2.10, 1, 10)
        eng.trade("A", SELL, 1.95, 1, 400)
        eng.trade("B", BUY, 2.15, 1, 500)
        reports = eng.advance(10_000)
        assert [(r.instrument, r.kind.name) for r in reports] == [
            ("A", "ACK"), ("B", "ACK"), ("A", "FILL"), ("B", "FILL")]
        assert [r.local_ts for r in reports] == sorted(r.local_ts for r in reports)

    def test_late_market_data_is_applied_at_the_newest_time_seen(self, engine):
        eng = quoted(engine)
        eng.depth("SPY 250117C00500000", BUY, 2.05, 5, 1_000)
        eng.depth("SPY 250117C00500000", SELL, 2.05, 5, 500)  # older than the last row: now at 1_000
        eng.advance(999)
        assert eng.touch("SPY 250117C00500000").bid == pytest.approx(2.00)
        eng.advance(1_000)
        touch = eng.touch("SPY 250117C00500000")
        assert (touch.bid, touch.ask) == (pytest.approx(2.00), pytest.approx(2.05))

    def test_market_data_older_than_the_last_advance_is_applied_then(self, engine):
        eng = quoted(engine)
        eng.submit(1, "SPY 250117C00500000", BUY, 2.00, 1, 0)
        eng.advance(1_000)
        eng.trade("SPY 250117C00500000", SELL, 1.95, 1, 500)  # reported late
        (fill,) = eng.advance(2_000)
        assert (fill.kind, fill.exch_ts) == (ReportKind.FILL, 1_000)

    def test_order_state_tracks_status_leaves_and_queue(self, engine):
        eng = quoted(engine, config={**CFG, "partial_fills": True})
        assert eng.order(7) is None
        eng.submit(7, "SPY 250117C00500000", BUY, 2.00, 4, 0)
        assert eng.order(7).status == OrderStatus.PENDING
        eng.advance(200)
        state = eng.order(7)
        assert (state.status, state.leaves_qty, state.queue_ahead) == (OrderStatus.NEW, 4.0, 10.0)
        eng.trade("SPY 250117C00500000", SELL, 2.00, 12, 300)
        eng.advance(400)
        state = eng.order(7)
        assert (state.status, state.leaves_qty, state.queue_ahead) == (OrderStatus.PARTIALLY_FILLED, 2.0, 0.0)


class TestEdge:
    @pytest.mark.parametrize("call", [
        lambda e: e.submit(1, "X", 0, 2.0, 1, 0),
        lambda e: e.submit(1, "X", BUY, float("nan"), 1, 0),
        lambda e: e.submit(1, "X", BUY, 2.0, 0, 0),
        lambda e: e.submit(1, "X", BUY, 2.0, 1, 0, tif=9),
        lambda e: e.submit(1, "X", BUY, 2.0, 1, 0, ord_type=2),
        lambda e: e.depth("X", BUY, 2.0, -1, 0),
        lambda e: e.trade("X", SELL, 1e300, 1, 0),
        lambda e: e.clear("X", 0, side=5),
    ])
    def test_bad_input_is_refused_at_the_edge(self, engine, call):
        with pytest.raises(ValueError):
            call(fillsim.OnlineEngine(CFG, engine=engine))

    def test_an_open_order_id_cannot_be_reused_but_a_finished_one_can(self, engine):
        eng = quoted(engine)
        eng.submit(1, "X", BUY, 1.00, 1, 0)
        with pytest.raises(ValueError, match="still open"):
            eng.submit(1, "X", BUY, 1.00, 1, 10)
        eng.cancel(1, 20)
        eng.advance(1_000)
        eng.submit(1, "X", BUY, 1.05, 1, 1_000)
        eng.advance(2_000)
        assert eng.order(1).px == pytest.approx(1.05)

    def test_engine_names_which_implementation_runs(self, engine):
        assert fillsim.OnlineEngine(CFG, engine=engine).engine == engine


JITTER = {"kind": "normal", "sigma": 80.0, "seed": 42}


class TestJitter:
    def run(self, engine, jitter):
        eng = quoted(engine, config={**CFG, "jitter": jitter})
        for i in range(40):
            eng.submit(i, "X", BUY if i % 2 else SELL, 1.00 + 0.05 * (i % 3), 1, i * 10)
        return eng.advance(10**9)

    def test_jitter_is_seeded_and_the_same_in_both_engines(self, engine):
        first, again = self.run(engine, JITTER), self.run(engine, JITTER)
        other = self.run("python" if engine == "cython" else "cython", JITTER)
        assert first == again == other
        assert first != self.run(engine, {**JITTER, "seed": 43})

    def test_requests_and_reports_never_overtake_each_other(self, engine):
        reports = self.run(engine, {"kind": "lognormal", "sigma": 1.5, "seed": 1})
        acks = [r.exch_ts for r in reports if r.kind == ReportKind.ACK]
        assert acks == sorted(acks) and len(acks) == 40
        assert [r.local_ts for r in reports] == sorted(r.local_ts for r in reports)

    def test_table_jitter_only_uses_recorded_latencies(self, engine):
        table = [(7, 3), (70, 30), (700, 300)]
        eng = fillsim.OnlineEngine({**CFG, "jitter": {"kind": "table", "table": table, "seed": 9}},
                                   engine=engine)
        seen = set()
        for i in range(30):
            eng.submit(i, "X", BUY, 1.0, 1, 10**6 * i)
            (ack,) = eng.advance(10**6 * (i + 1) - 1)
            seen.add((ack.exch_ts - 10**6 * i, ack.local_ts - ack.exch_ts))
        assert {e for e, _ in seen} <= {7, 70, 700} and {r for _, r in seen} <= {3, 30, 300}
        assert len({e for e, _ in seen}) > 1


def test_one_engine_serves_many_threads(engine):
    eng = quoted(engine, instruments=("A", "B", "C", "D"))

    def client(n):
        for i in range(200):
            eng.submit(n * 1000 + i, "ABCD"[n], BUY, 2.00, 1, i)
            eng.depth("ABCD"[n], BUY, 2.00, 10 + i % 3, i)
            eng.order(n * 1000 + i)

    with ThreadPoolExecutor(4) as pool:
        for done in [pool.submit(client, n) for n in range(4)]:
            done.result()  # re-raises a client's error here
    reports = eng.advance(10**9)
    assert sorted(r.order_id for r in reports if r.kind == ReportKind.ACK) == sorted(
        n * 1000 + i for n in range(4) for i in range(200))


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)


def test_fillsim_purepython_selects_the_reference_and_the_default_is_the_extension():
    code = "import fillsim; print(fillsim.ENGINE, fillsim.OnlineEngine().engine)"
    assert _python(code, FILLSIM_PUREPYTHON="1").stdout.split() == ["python", "python"]
    env = {k: v for k, v in os.environ.items() if k != "FILLSIM_PUREPYTHON"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=False)
    assert out.stdout.split() == ["cython", "cython"]


def test_a_missing_extension_fails_loudly_instead_of_falling_back():
    env = {k: v for k, v in os.environ.items() if k != "FILLSIM_PUREPYTHON"}
    code = "import sys; sys.modules['fillsim._engine'] = None; import fillsim"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=False)
    assert out.returncode != 0 and "extension (fillsim._engine) is not built" in out.stderr
