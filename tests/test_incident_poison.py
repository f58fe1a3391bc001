"""One poisoned incident record (ts 1e300, NaN, -1e18) never makes the API answer 500 (issue 12 item 8)."""
from __future__ import annotations

import json

import pytest

from incident_logger import IncidentLog


@pytest.mark.parametrize("ts", [1e300, float("nan"), -1e18, "9999999999999", "NaN"])
def test_a_poisoned_record_is_skipped_and_counted_not_a_500(client, config, ts):
    log = IncidentLog.from_config(config, source="monitor")
    good = log.trigger("feed:nbbo", "feed_stale", "SEV2", "good").incident.incident_id
    rec = json.loads(log.path.read_text().splitlines()[0])
    with open(log.path, "a") as fh:  # Python's json writes NaN as a bare word, as a careless writer would
        fh.write(json.dumps({**rec, "incident_id": "INC-20250102-0099", "dedup_key": "x", "ts": ts}) + "\n")
    listed = client.get("/incidents?state=all")
    assert listed.status_code == 200
    assert [i["incident_id"] for i in listed.get_json()["incidents"]] == [good]
    assert listed.get_json()["skipped_records"] == 1
    summary = client.get("/api/summary")
    assert summary.status_code == 200 and summary.get_json()["incidents"]["skipped_records"] == 1
