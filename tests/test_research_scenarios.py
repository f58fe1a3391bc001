"""Seeds, scenario draws, the illiquidity transform, the run plan and the runs table's columns:
pure functions, no cluster."""
from __future__ import annotations

import numpy as np
import pytest

from fillsim import EVENT_TYPE_MASK, Config
from fillsim.synth import StreamSpec, synth_stream
from fillsim.types import DEPTH_EVENT, TRADE_EVENT
from optsim.research.plan import Spec, parse_grid, tasks
from optsim.research.scenarios import DEFAULT_ENTRY_NS, DEFAULT_RESPONSE_NS, FACTORS, QUEUE_MODELS, draw, thin
from optsim.research.seeds import run_rng, run_seed


def test_run_seed_is_the_spawned_child_keyed_by_index():
    children = np.random.SeedSequence(42).spawn(4)
    for i, child in enumerate(children):
        assert run_seed(42, i) == int(child.generate_state(2, np.uint32).view(np.uint64)[0] >> 1)
    assert len({run_seed(42, i) for i in range(1000)}) == 1000
    assert run_seed(42, 3) != run_seed(43, 3)


def test_draws_do_not_depend_on_which_factors_vary():
    base, given = Config(entry_latency_ns=100_000, response_latency_ns=40_000), ("entry_latency_ns", "response_latency_ns")
    every = draw(run_rng(5, 0), FACTORS, base, run_seed(5, 0), given)
    latency_only = draw(run_rng(5, 0), ["latency"], base, run_seed(5, 0), given)
    assert latency_only.config["entry_latency_ns"] == every.config["entry_latency_ns"]
    assert latency_only.liquidity == 0.0 and "queue_model" not in latency_only.config
    assert every.config["queue_model"] in QUEUE_MODELS
    assert 50_000 <= every.config["entry_latency_ns"] <= 200_000
    assert every.config["jitter"]["seed"] == run_seed(5, 0)
    nothing = draw(run_rng(5, 0), [], base, 1)
    assert nothing.config == {} and nothing.liquidity == 0.0


def test_each_unconfigured_latency_mean_gets_its_own_default():
    entry_only = draw(run_rng(1, 0), ["latency"], Config(entry_latency_ns=300_000), 9, ["entry_latency_ns"])
    response_only = draw(run_rng(1, 0), ["latency"], Config(response_latency_ns=300_000), 9, ["response_latency_ns"])
    assert entry_only.config["entry_latency_ns"] == response_only.config["response_latency_ns"]
    scale = entry_only.config["entry_latency_ns"] / 300_000
    assert entry_only.config["response_latency_ns"] == pytest.approx(DEFAULT_RESPONSE_NS * scale, abs=1)
    assert response_only.config["entry_latency_ns"] == pytest.approx(DEFAULT_ENTRY_NS * scale, abs=1)


def test_a_latency_set_to_zero_stays_zero_when_drawn():
    scen = draw(run_rng(1, 0), ["latency"], Config(response_latency_ns=0), 9, ["response_latency_ns"])
    assert scen.config["response_latency_ns"] == 0 and scen.config["entry_latency_ns"] > 0


def test_unconfigured_latency_gets_the_stated_default_and_jitter():
    scen = draw(run_rng(1, 0), ["latency"], Config(), 9)
    cfg = Config.coerce(scen.config)
    assert cfg.entry_latency_ns > 0 and cfg.jitter.kind == "lognormal"


@pytest.fixture(scope="module")
def stream():
    events, snapshot, _ = synth_stream(StreamSpec(n_events=5000, seed=3))
    return events, snapshot


def test_thin_cuts_sizes_pulls_quotes_and_drops_vanished_prints(stream):
    events, _ = stream
    thinned = thin(events, 0.8, seed=1)
    again = thin(events, 0.8, seed=1)
    assert np.array_equal(thinned, again)
    kind = events["ev"] & EVENT_TYPE_MASK
    tkind = thinned["ev"] & EVENT_TYPE_MASK
    assert (tkind == TRADE_EVENT).sum() < (kind == TRADE_EVENT).sum()
    assert thinned["qty"][tkind == TRADE_EVENT].min() >= 1
    assert thinned["qty"][tkind == TRADE_EVENT].sum() < 0.7 * events["qty"][kind == TRADE_EVENT].sum()
    pulled = ((thinned["qty"] == 0) & (tkind == DEPTH_EVENT)).sum()
    assert pulled > ((events["qty"] == 0) & (kind == DEPTH_EVENT)).sum() + 0.1 * (kind == DEPTH_EVENT).sum()
    assert events is not thinned and thin(events, 0.0, 1) is events


def test_parse_grid_and_its_errors():
    assert parse_grid(["every=50,100", "queue_model=power:2,log", "partial_fills=true"]) == {
        "every": [50, 100], "queue_model": ["power:2", "log"], "partial_fills": [True]}
    for bad in (["every"], ["=1,2"], ["every="], ["every=1,1"], ["a=1", "a=2"]):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_plan_is_points_times_replicates_with_common_random_numbers():
    spec = Spec(mode="sweep", data="x.npz", strategy="requote", runs=3, seed=7, vary=("latency",),
                grid={"every": [50, 100], "entry_latency_ns": [10_000, 40_000]})
    plan = tasks(spec)
    assert len(plan) == 12 and [t.run_id for t in plan] == sorted(t.run_id for t in plan)
    by_rep = {}
    for t in plan:
        by_rep.setdefault(t.rep, set()).add(t.seed)
    assert all(len(seeds) == 1 for seeds in by_rep.values())  # every point of a replicate shares its seed
    p0, p1 = (t for t in plan if t.rep == 1 and t.point in (0, 1))
    assert abs(p1.config["entry_latency_ns"] - 4 * p0.config["entry_latency_ns"]) <= 4  # same drawn scale


def test_plan_refuses_a_grid_that_fixes_a_varied_factor_and_bad_config():
    with pytest.raises(ValueError, match="one or the other"):
        Spec(mode="sweep", data="x", strategy="s", vary=("queue",), grid={"queue_model": ["log"]})
    with pytest.raises(ValueError, match="queue model"):
        tasks(Spec(mode="sweep", data="x", strategy="s", grid={"queue_model": ["nope"]}))
    with pytest.raises(ValueError):
        Spec(mode="montecarlo", data="x", strategy="s", runs=0)


def test_plan_keeps_run_keys_beside_the_drawn_fillsim_config():
    spec = Spec(mode="montecarlo", data="x", strategy="mm", runs=2, vary=("latency", "queue"),
                config={"entry_latency_ns": 100_000, "fees": {"maker": -0.2, "taker": 0.5}})
    for t in tasks(spec):
        assert t.config["fees"] == {"maker": -0.2, "taker": 0.5}
        assert 50_000 <= t.config["entry_latency_ns"] <= 200_000 and t.config["queue_model"] in QUEUE_MODELS


def test_drawn_latency_is_centred_on_the_datas_own_when_the_run_sets_none():
    venues = {"venues": [{"name": "A", "entry_latency_us": 180, "response_latency_us": 120}]}
    spec = Spec(mode="montecarlo", data="rec", strategy="mm", runs=3, vary=("latency",))
    on_venue, plain = tasks(spec, venues), tasks(spec)
    for drawn, default in zip(on_venue, plain):
        scale = default.config["entry_latency_ns"] / DEFAULT_ENTRY_NS
        assert drawn.config["entry_latency_ns"] == pytest.approx(180_000 * scale, abs=1)
        assert drawn.config["response_latency_ns"] == pytest.approx(120_000 * scale, abs=1)
    set_by_run = Spec(mode="montecarlo", data="rec", strategy="mm", runs=1, vary=("latency",),
                      config={"response_latency_ns": 0})
    [task] = tasks(set_by_run, venues)
    assert task.config["response_latency_ns"] == 0 and task.config["entry_latency_ns"] > 0


def test_runs_table_latency_columns_are_the_venue_or_file_defaults_the_run_used(tmp_path):
    from optsim.research.data import load_manifest
    from optsim.research.fanout import _row
    from optsim.research.worker import RunTask

    venues = {"venues": [{"name": "A", "entry_latency_us": 180, "response_latency_us": 120},
                         {"name": "B", "entry_latency_us": 50, "response_latency_us": 40}]}
    task = RunTask(run_id="00000-00000", point=0, rep=0, seed=1, data="rec", strategy="mm")
    row = _row(task, None, "boom", venues)
    assert (row["entry_latency_ns"], row["response_latency_ns"]) == (180_000, 120_000)
    on_b = RunTask(**{**task.__dict__, "config": {"venue": "B", "response_latency_ns": 7}})
    row = _row(on_b, None, "boom", venues)
    assert (row["entry_latency_ns"], row["response_latency_ns"]) == (50_000, 7)
    events, snapshot, _ = synth_stream(StreamSpec(n_events=200, seed=3))
    np.savez(tmp_path / "s.npz", data=events, config=np.array('{"entry_latency_ns": 9000}'))
    assert _row(task, None, "boom", load_manifest(tmp_path / "s.npz"))["entry_latency_ns"] == 9000


def test_several_instruments_positions_give_net_and_gross_figures_and_a_distribution():
    from optsim.research.aggregate import distribution, run_figures

    several = run_figures({"position": {"SPY": -30.0, "C1": 2.0, "P1": 1.0}, "pnl": 1.5, "markout_1s": {"buy": 0.1}})
    one = run_figures({"position": -4.0})
    assert (several["position"], several["gross_position"], several["pnl"]) == (-27.0, 33.0, 1.5)
    assert several["markout_1s.buy"] == 0.1
    assert (one["position"], one["gross_position"]) == (-4.0, 4.0)
    assert distribution([several["position"], one["position"]])["mean"] == -15.5


def test_whole_nanosecond_counts_written_as_floats_are_ints():
    from optsim.research.run import parse_params

    assert parse_grid(["interval_ns=1e6,2e6", "skew=1e0"]) == {"interval_ns": [1_000_000, 2_000_000], "skew": [1.0]}
    assert type(parse_grid(["entry_latency_ns=1e5"])["entry_latency_ns"][0]) is int
    params = parse_params(["interval_ns=1e6", "edge=2.0", "late_ns=1.5e0"])
    assert params == {"interval_ns": 1_000_000, "edge": 2.0, "late_ns": 1.5}
    assert type(params["interval_ns"]) is int and type(params["edge"]) is float
