"""Live cross-check: hftbacktest and fillsim on the same small stream, fill for fill.

Runs only where hftbacktest is installed (the ``xcheck`` extra); the driver is
bench/xcheck_hftbacktest.py.
"""
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("hftbacktest", reason="hftbacktest is not installed (pip install -e .[xcheck])")
pytestmark = pytest.mark.xcheck

_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "xcheck_hftbacktest.py"
_spec = importlib.util.spec_from_file_location("xcheck_hftbacktest", _SCRIPT)
xcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(xcheck)


@pytest.mark.parametrize("engine", ["cython", "python"])
@pytest.mark.parametrize("queue", sorted(xcheck.QUEUES))
def test_fillsim_reproduces_hftbacktest_fills_on_a_fresh_stream(queue, engine):
    result = xcheck.cross_check(n_events=20_000, seed=11, queue=queue, engine=engine)
    assert result["peer_fills"] > 100  # the stream really exercised the fill rules
    assert result["missing"] == [] and result["extra"] == []
    assert result["match"]
