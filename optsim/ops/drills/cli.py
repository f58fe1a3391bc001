"""``run_simulator.py drill NAME``: run one scored drill against the running suite and print its times.

The run happens in the service (``POST /drills/runs``), so the CLI, the API and the dashboard see one
history; this command starts it, follows its phases and prints the result. Exit codes: 0 the drill
passed, 1 it failed or was aborted, 2 bad arguments or the service refused or could not be reached.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import requests

from ...config import ConfigError, cli_overrides, load_config
from .scenarios import catalogue

TIMES = (("time to detect", "ttd_s"), ("time to acknowledge", "tta_s"), ("time to mitigate", "ttm_s"),
         ("time to resolve", "ttr_s"))


def _token(config) -> str:
    if config.admin_token:
        return config.admin_token
    path = config.data_dir / "admin_token"
    return path.read_text().strip() if path.exists() else ""


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="run_simulator.py drill", description=__doc__.splitlines()[0])
    p.add_argument("name", nargs="?", help="scenario name (drills/<name>.json); --list shows them")
    p.add_argument("--list", action="store_true", help="list the scenarios (from the files; no service needed)")
    p.add_argument("--url", help="service base URL (default http://<service.host>:<service.port>)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--data-dir", help="data directory (to find data/admin_token)")
    p.add_argument("--game-day", action="store_true", help="wait for a person to acknowledge and clear the fault")
    p.add_argument("--no-silence", action="store_true", help="let the drill's incidents notify like real ones")
    p.add_argument("--detect-within", type=float, help="seconds the monitor has to open the expected incident")
    p.add_argument("--json", action="store_true", help="print the final run record as JSON")
    args = p.parse_args(argv)
    try:
        config = load_config(args.config, cli_overrides(data_dir=args.data_dir))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.list or not args.name:  # read from the scenario files: no service needed
        for d in catalogue(config.drills.scenario_dir):
            print(f"{d['drill']:<18} {d.get('title', '')}  " + (f"cannot run: {d['error']}" if "error" in d else
                                                               f"expects {', '.join(d['expected_incidents'])}"))
        return 0 if args.list else 2
    url = (args.url or config.service.url).rstrip("/")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {_token(config)}"
    try:
        body = {"drill": args.name, "mode": "game_day" if args.game_day else "unattended",
                "silence": not args.no_silence}
        if args.detect_within is not None:
            body["detect_within_s"] = args.detect_within
        answer = http.post(f"{url}/drills/runs", json=body, timeout=10)
        if answer.status_code != 202:
            print(f"error: HTTP {answer.status_code}: {answer.text[:300]}", file=sys.stderr)
            return 2
        run, phase = answer.json(), None
        print(f"{run['run_id']}: {run['title']} ({run['mode']})", flush=True)
        while run["status"] == "running":
            if run["phase"] != phase:
                phase = run["phase"]
                print(f"  {time.strftime('%H:%M:%S')} {phase}", flush=True)
            time.sleep(0.5)
            run = http.get(f"{url}/drills/runs/{run['run_id']}", timeout=10).json()
    except (requests.RequestException, ValueError, KeyError) as exc:
        print(f"error: cannot run the drill at {url}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(run, indent=2))
    else:
        print(f"{run['status'].upper()}" + (f": {run['reason']}" if run.get("reason") else ""))
        print(f"  incident {run.get('incident_id') or '-'} ({run.get('incident_type') or 'none opened'})")
        for label, key in TIMES:
            value = run.get(key)
            print(f"  {label:<20} {'-' if value is None else f'{value:.1f} s'}")
    return 0 if run["status"] == "passed" else 1
