"""The order bench's suite config: ``--set`` settings reach the suite's optsim.toml, merged with the bench's own."""
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
