"""The README's backtest example runs as printed and says what it claims."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_backtest_example_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Backtests", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    assert "def strategy(bt):" in code and "bt.elapse(100_000_000)" in code
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    n_fills, position, cash, fees, equity = out.stdout.split()
    assert int(n_fills) > 0 and float(position) == int(float(position))
    # post-only quotes only ever make liquidity: every fill earned the 0.20 rebate
    assert float(fees) == round(-0.20 * int(n_fills), 2)
    assert float(cash) != 0 and float(equity) != float(cash) or float(position) == 0


def test_the_readme_lists_every_strategy_call():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Backtests", 1)[1].split("\n## ", 1)[0]
    for name in ("elapse(ns)", "now", "best_bid", "best_ask", "bid_qty", "ask_qty", "depth(side",
                 "tick_size", "position", "cash", "fees", "equity", "orders", "buy(price, qty",
                 "modify(id, price, qty)", "cancel(id)", "cancel_all()", "fills", "recorder",
                 "record_fill(fill)", "record_step(bt)"):
        assert name in section, name
