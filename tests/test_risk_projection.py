"""The position and Greeks checks read an account's totals kept as its books move, not sums over its series.

Summing every series an account works made an order's cost grow with the breadth of its book. The totals
must still be exactly what those sums give: after working orders, fills, changes undone with a rolled-back
job, and new snapshots that move every series' Greeks, for single- and multi-leg orders, in any account, and when a restarted feed repeats an earlier ``seq``.
"""
from __future__ import annotations

import random
from collections import defaultdict

import pytest

from optsim.domain.chain import Chain
from optsim.domain.models import parse_order
from optsim.trading.risk import same_side_contracts
from tests.conftest import seed_multi, seed_single
from tests.snapshots import build_snapshot
from optsim.fileio import atomic_write_json

ACCOUNTS = ("MM-1", "MM-2", "DEFAULT")


def from_scratch(risk, spec) -> tuple[int, tuple[float, float, float, float]]:
    """What the checks read, summed over the account's filled and working series with the order added."""
    portfolio: dict[str, int] = defaultdict(int)
    for book in (risk.exposure.filled, risk.exposure.working):
        for (account, symbol), qty in book.items():
            if account == spec.account:
                portfolio[symbol] += qty
    prefix = spec.underlying.ljust(6)
    series = {symbol: qty for symbol, qty in portfolio.items() if symbol.startswith(prefix)}
    for leg in spec.legs:
        series[leg.symbol.padded] = series.get(leg.symbol.padded, 0) + leg.sign * leg.qty
        portfolio[leg.symbol.padded] += leg.sign * leg.qty
    delta = vega = dollar_delta = portfolio_vega = 0.0
    for symbol, qty in series.items():
        if g := risk._greeks(symbol):
            delta, vega = delta + g.delta * qty, vega + g.vega * qty
    for symbol, qty in portfolio.items():
        if g := risk._greeks(symbol):
            dollar_delta, portfolio_vega = dollar_delta + g.delta * qty * g.spot, portfolio_vega + g.vega * qty
    return same_side_contracts(series), (delta, vega, dollar_delta, portfolio_vega)


def orders(config, rng: random.Random, n: int) -> list:
    """Single-leg orders over the chain's series (both sides, calls and puts), and the seed's vertical."""
    chain = [c for c in Chain(config) if c.underlying in ("AAPL", "SPY")]
    specs = []
    for _ in range(n):
        c = rng.choice(chain)
        body = seed_single(underlying=c.underlying, expiry=c.expiry.isoformat(), strike=float(c.strike),
                           option_type=c.right, side=rng.choice(("BUY", "SELL")), qty=rng.randint(1, 40),
                           account=rng.choice(ACCOUNTS))
        specs.append(parse_order(body))
    for account in ACCOUNTS:
        specs.append(parse_order({**seed_multi(), "account": account}, endpoint="multi"))
    return specs


@pytest.mark.timeout(60)
def test_the_checks_totals_equal_the_sums_over_the_accounts_series(app, config, snapshot):
    desk = app.extensions["desk"]
    risk, journal = desk.risk, desk.risk.journal
    rng = random.Random(11)
    specs = orders(config, rng, 60)
    seq = snapshot["seq"]

    def assert_totals_are_the_sums():
        for spec in specs:
            side, greeks = from_scratch(risk, spec)
            assert risk._projected_side(spec) == side
            assert risk._projected_greeks(spec) == pytest.approx(greeks, rel=1e-9, abs=1e-6)

    for step in range(400):
        spec = rng.choice(specs)
        roll = rng.random()
        if roll < 0.45:
            risk.on_working(spec, rng.randint(1, 3), rng.choice((1, -1)))
        elif roll < 0.75:
            leg = rng.choice(spec.legs)
            risk.on_fill(spec.account, leg.symbol.padded, rng.choice(("BUY", "SELL")), rng.randint(1, 10))
        elif roll < 0.9:  # a job whose writes roll back: its changes to the books are undone
            journal.begin()
            mark = journal.mark()
            for _ in range(rng.randint(1, 4)):
                risk.on_working(rng.choice(specs), 1)
            risk._projected_greeks(spec)  # read in the middle of the job, as the next order in its group does
            journal.rollback(mark)
            journal.commit()
        else:  # a new snapshot: another spot for each underlying, so every series' Greeks move; now and then
            seq = 1 if roll > 0.98 and seq > 1 else seq + 1  # a restarted feed, counting again from 1
            snap = build_snapshot(config, seq=seq)
            for u in snap["underlyings"].values():
                u["spot"] = round(u["spot"] * rng.uniform(0.97, 1.03), 2)
            atomic_write_json(config.data_dir / "quotes.json", snap)
            assert desk.quotes.refresh()
        if step % 20 == 0:
            assert_totals_are_the_sums()
    assert_totals_are_the_sums()
    assert risk.exposure.working and risk.exposure.filled  # the walk did work both books
