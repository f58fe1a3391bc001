"""The kill switch against the real suite: HALTED survives a SIGKILL of the service and the supervisor's restart."""
from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.conftest import seed_single
from tests.suite import running_suite, wait_for

pytestmark = pytest.mark.slow


def answers(suite) -> bool:
    try:
        return suite.get("/health", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.timeout(180)
def test_halted_then_sigkill_comes_back_halted(tmp_path):
    with running_suite(tmp_path) as suite:
        # Arrange: a working order, then the kill switch with who and why
        assert suite.post("/orders", json=seed_single()).status_code == 201
        r = suite.post("/admin/kill-switch", json={"state": "HALTED", "actor": "ops-1", "reason": "drill"},
                       admin=True)
        assert r.status_code == 200 and len(r.json()["cancelled"]) == 1
        old_pid = suite.children()["service"]

        # Act: the service dies without a goodbye; the supervisor starts a new one
        os.killpg(old_pid, signal.SIGKILL)
        wait_for(lambda: (p := suite.children()["service"]) != old_pid and p, 20, 0.1, "the service to restart")
        wait_for(lambda: answers(suite), 30, 0.2, "the new service to answer")

        # Assert: still HALTED, with who set it and why; orders are refused; the audit log has the action
        state = suite.http.get(suite.url + "/admin/kill-switch", headers=suite.admin, timeout=5).json()
        assert (state["state"], state["set_by"], state["reason"]) == ("HALTED", "ops-1", "drill")
        refused = suite.post("/orders", json=seed_single(price=1.30))
        assert (refused.status_code, refused.json()["reason"]) == (403, "HALTED")
        audit = suite.http.get(suite.url + "/admin/audit", headers=suite.admin, timeout=5).json()["entries"]
        assert [(e["action"], e["target"], e["actor"]) for e in audit] == [("kill_switch.set", "HALTED", "ops-1")]
