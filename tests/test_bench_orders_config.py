"""The order bench: ``--set`` settings reach the suite's optsim.toml, merged with the bench's own; and its verdicts
say when the host, not the service, decided a figure."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from optsim.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import bench_orders  # noqa: E402


def suite_config(tmp_path, *argv: str):
    args = bench_orders.parse_args(list(argv))
    path = tmp_path / "optsim.toml"
    path.write_text(bench_orders.suite_toml(args))
    return load_config(path)


def test_set_reaches_the_suite_and_keeps_the_bench_limits(tmp_path):
    cfg = suite_config(tmp_path, "--set", "service.gil_switch_interval_s=0.005", "--set", "risk.credit_limit=5e6",
                       "--feed-interval", "0.5")
    assert cfg.service.gil_switch_interval_s == 0.005
    assert cfg.risk.credit_limit == 5e6  # the setting wins over the bench's own limit ...
    assert cfg.risk.max_orders_per_s == 1000000  # ... and the rest of the bench's table stays
    assert cfg.trips.max_order_rate == 0 and cfg.feed.interval_s == 0.5


def test_the_ten_times_chain_and_service_only_still_apply(tmp_path):
    cfg = suite_config(tmp_path, "--chain", "10x", "--service-only", "--set", "underlyings.AAPL.strikes_per_side=60")
    assert cfg.chain.weeklies == 8 and cfg.underlyings["SPY"].strikes_per_side == 52
    assert cfg.underlyings["AAPL"].strikes_per_side == 60
    assert cfg.risk.quote_max_age_s == 86400


@pytest.mark.parametrize("bad", ["threads=8", "service.threads", "service.threads=eight"])
def test_a_malformed_setting_is_refused_before_anything_starts(bad, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench_orders.parse_args(["--set", bad])
    assert exit_.value.code == 2 and "table.key=<TOML value>" in capsys.readouterr().err


def rate(p99: float, answered: int = 1500, sent: int = 1500) -> dict:
    return {"p99_ms": p99, "answered": answered, "sent": sent}


def test_the_latency_goal_is_judged_with_the_echo_beside_it():
    lines = bench_orders.verdicts({"echo rate 100": rate(4.0), "rate 100": rate(6.5)}, [100.0], 0)
    assert lines == ["goal p99 < 10 ms at 100/s: orders 6.50 ms, met (the bare echo 4.00 ms in the same run)"]
    missed = bench_orders.verdicts({"echo rate 100": rate(4.0), "rate 100": rate(6.5, answered=1499)}, [100.0], 0)
    assert "NOT met" in missed[0]  # an order not answered fails the goal whatever the latency


def test_a_busy_host_is_named_rather_than_blamed_on_the_service():
    results = {"echo rate 100": rate(14.0), "rate 100": rate(17.0),
               "echo 1": {"rps": 1450.0}, "echo 2": {"rps": 900.0}}
    lines = bench_orders.verdicts(results, [100.0], 2)
    assert "NOT met" in lines[0]
    assert "bare echo misses the goal on its own" in lines[1] and "900-1450 req/s" in lines[2]
