"""runbook.md keeps up with the monitor: a complete, linkable section for every incident type it raises."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from incident_logger import runbook_anchor
from optsim.ops import runbook

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = (ROOT / "runbook.md").read_text(encoding="utf-8")
PARTS = ("**Symptoms.**", "**Impact on trading.**", "**First checks.**", "**Mitigation (safest first).**",
         "**Verify recovery.**", "**Escalate.**")


def incident_types() -> tuple[str, ...]:
    """The monitor's registry in code; the architecture doc's list only if the monitor is not there."""
    try:
        from optsim.ops.incident_types import INCIDENT_TYPES
    except ImportError:
        doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
        listed = doc.split("Types the monitor raises", 1)[1].split("Service endpoints", 1)[0]
        return tuple(re.findall(r"`([a-z_]+)`", listed))
    return INCIDENT_TYPES


def section(anchor: str) -> str:
    """From ``<a id="anchor">`` (or a heading with that slug) to the next anchor or level-2 heading."""
    lines = RUNBOOK.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if line.strip() == f'<a id="{anchor}"></a>'
                  or (line.startswith("#") and runbook.slug(line.lstrip("#")) == anchor)), None)
    assert start is not None, f"runbook.md has no anchor #{anchor}"
    end = start + 1
    while end < len(lines) and not lines[end].startswith("<a id="):
        if lines[end].startswith("## ") and end > start + 2:
            break
        end += 1
    return "\n".join(lines[start:end])


TYPES = incident_types()


def test_the_registry_is_the_monitors():
    assert len(TYPES) >= 11 and "feed_stale" in TYPES and "latency_slo_breach" in TYPES


@pytest.mark.parametrize("incident_type", TYPES)
def test_every_incident_type_has_a_complete_section(incident_type):
    anchor = runbook_anchor(incident_type).partition("#")[2]
    assert anchor == incident_type.replace("_", "-")
    text = section(anchor)
    assert incident_type in text.splitlines()[2], "the heading names the type"
    missing = [part for part in PARTS if part not in text]
    assert not missing, f"#{anchor} lacks {missing}"
    checks = text.split("**First checks.**", 1)[1].split("**Mitigation", 1)[0]
    assert "```bash" in checks and "curl " in checks, f"#{anchor}: first checks need curl commands"
    assert "```powershell" in checks and "Invoke-" in checks, f"#{anchor}: first checks need PowerShell commands"
    assert "python incident_logger.py" in checks, f"#{anchor}: first checks need the incident CLI"
    assert re.search(r"data[/\\]", checks), f"#{anchor}: first checks name files in the data dir"


def test_the_served_runbook_has_every_anchor_and_escapes_text(client):
    res = client.get("/runbook")
    assert res.status_code == 200 and res.mimetype == "text/html"
    assert "default-src 'self'" in res.headers["Content-Security-Policy"]
    page = res.get_data(as_text=True)
    for incident_type in TYPES:
        assert f'id="{incident_type.replace("_", "-")}"' in page
    assert "<script" not in page
    assert "&lt;http" not in page  # autolinks became links
    assert client.get("/runbook.md").get_data(as_text=True) == RUNBOOK


def test_the_renderer_escapes_markup_and_drops_unsafe_links():
    out = runbook.to_html('<img src=x onerror=alert(1)>\n\n[x](javascript:alert(1)) `<b>`\n\n<a id="ok"></a>')
    assert "<img" not in out and "&lt;img" in out
    assert 'href="javascript' not in out
    assert "<code>&lt;b&gt;</code>" in out
    assert '<a id="ok"></a>' in out


def test_sample_orders_are_the_readmes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    samples = readme.split("## Sample orders", 1)[1].split("Both answer", 1)[0]
    blocks = re.findall(r"```(?:bash|powershell)\n(.*?)```", samples, re.S)
    assert len(blocks) == 2
    for block in blocks:
        assert block in RUNBOOK


def test_every_drill_fault_is_described():
    from optsim.api.drills import FEED_FAULTS, SERVICE_FAULTS
    drills = RUNBOOK.split("## Running a drill", 1)[1].split("\n## ", 1)[0]
    for fault in FEED_FAULTS + SERVICE_FAULTS:
        assert f"| `{fault}` |" in drills
    assert "POST /admin/drills" in drills and "DELETE /admin/drills" in drills


def test_comms_templates_cover_desk_and_developers():
    comms = RUNBOOK.split("## Comms templates", 1)[1].split("\n## ", 1)[0]
    for audience in ("### For the trading desk", "### For developers"):
        part = comms.split(audience, 1)[1].split("\n### ", 1)[0]
        for stage in ("Initial notice:", "Update:", "Resolution:"):
            assert stage in part, f"{audience} lacks {stage}"
