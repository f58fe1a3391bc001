"""POST /orders throughput of the real service against a bare Flask JSON echo on the same waitress settings.

Starts both on 127.0.0.1 (free ports, temp data dir, a fresh quotes.json, the service's configured
thread count), drives each with ``wrk -t1 -c16 -d<seconds>s --latency`` and prints req/s, p50 and p99
for both, the ratio order/echo, and how many orders the service accepted, rejected and refused as
invalid. The wrk Lua script rotates account, strike, price and quantity with a counter, so no two
orders within the duplicate window are alike and no account passes the throttle; exposure limits are
raised in a config TOML so the run measures the order path, not the limits.

    python bench/bench_orders.py            # --seconds 10 --connections 16
    python bench/bench_orders.py --profile  # also py-spy the service during a second run (if installed)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

AS_OF = "2025-01-02"
CONFIG_TOML = """
[risk]
quote_max_age_s = 86400
max_orders_per_s = 1000000
credit_limit = 1e12
position_limit = 100000000
delta_limit = 1e12
vega_limit = 1e12
portfolio_delta_limit = 1e15
portfolio_vega_limit = 1e15

[trips]
max_order_rate = 0        # the benchmark is a runaway client on purpose
reject_rate = 0
"""
# n -> a distinct resting AAPL call order: 64 accounts x 12 strikes x 97 prices x 5 sizes before a repeat
LUA = r"""
local n = 0
local strikes = {190, 195, 200, 205, 210, 215, 220, 225, 230, 235, 240, 245}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local acct = n % 64
  local strike = strikes[(math.floor(n / 64) % 12) + 1]
  local price = 0.50 + 0.05 * (math.floor(n / 768) % 97)
  local qty = 1 + math.floor(n / 74496) % 5
  local body = string.format('{"strategy_type":"single","underlying":"AAPL","expiry":"2025-01-17",' ..
    '"strike":%d,"option_type":"C","side":"BUY","qty":%d,"price":%.2f,"account":"B%d",' ..
    '"client_order_id":"bench-%d"}', strike, qty, price, acct, n)
  return wrk.format(nil, "/orders", nil, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status < 500:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer in {timeout}s")


def serve_echo(port: int, threads: int) -> None:
    """The baseline: Flask parses the JSON body and answers it back, on the service's waitress settings."""
    import waitress
    from flask import Flask, jsonify, request

    app = Flask("echo")

    @app.post("/orders")
    def echo():
        body = request.get_json()
        response = jsonify(body)
        response.status_code = 201
        return response

    @app.get("/livez")
    def livez():
        return {"status": "pass"}

    waitress.serve(app, host="127.0.0.1", port=port, threads=threads, ident="echo", clear_untrusted_proxy_headers=True)


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, timeout=seconds + 30, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m[1]), m[2]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]),
            "requests": int(re.search(r"(\d+) requests in", out)[1]),
            "p50_ms": ms("50"), "p99_ms": ms("99"), "non2xx": int(non2xx[1]) if non2xx else 0, "raw": out}


def order_counts(base: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        text = r.read().decode()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "optsim_orders_total":
                counts[s.labels["status"]] = counts.get(s.labels["status"], 0) + s.value
            if s.name == "optsim_order_rejects_total" and s.value:
                counts["reject:" + s.labels["reason"]] = s.value
    return counts


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=REPO, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="py-spy record the service during a second run")
    parser.add_argument("--serve-echo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from optsim.config import load_config
    from tests.snapshots import write_snapshot

    if args.serve_echo:
        serve_echo(args.serve_echo, args.threads)
        return 0
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        tmp = Path(tmp)
        (tmp / "data").mkdir()
        (tmp / "optsim.toml").write_text(CONFIG_TOML)
        (tmp / "post.lua").write_text(LUA)
        cfg = load_config(tmp / "optsim.toml", {"service": {"data_dir": str(tmp / "data"), "as_of": AS_OF}})
        threads = cfg.service.threads
        write_snapshot(cfg)

        results, procs = {}, []
        try:
            echo_port, svc_port = free_port(), free_port()
            procs.append(start([sys.executable, __file__, "--serve-echo", str(echo_port), "--threads", str(threads)],
                               tmp / "echo.log"))
            procs.append(start([sys.executable, "options_service.py", "--port", str(svc_port), "--data-dir",
                                str(tmp / "data"), "--as-of", AS_OF, "--config", str(tmp / "optsim.toml")],
                               tmp / "service.log"))
            wait_http(f"http://127.0.0.1:{echo_port}/livez")
            wait_http(f"http://127.0.0.1:{svc_port}/livez")
            for name, port in (("echo", echo_port), ("orders", svc_port)):
                results[name] = run_wrk(f"http://127.0.0.1:{port}/orders", tmp / "post.lua", args.seconds,
                                        args.connections)
            counts = order_counts(f"http://127.0.0.1:{svc_port}")
            if args.profile:
                profile(procs[1].pid, f"http://127.0.0.1:{svc_port}/orders", tmp / "post.lua", args)
        finally:
            for proc in procs:
                stop(proc)

    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s --latency, waitress threads={threads}, "
          f"POST /orders (rotating account/strike/price/client_order_id)")
    print(f"{'server':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'non-2xx':>8}")
    for name in ("echo", "orders"):
        r = results[name]
        print(f"{name:8} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['requests']:9d} {r['non2xx']:8d}")
    ratio = results["orders"]["rps"] / results["echo"]["rps"]
    print(f"ratio orders/echo: {ratio:.2f}x req/s (aim >= 0.70x); p50 {results['orders']['p50_ms'] / results['echo']['p50_ms']:.2f}x")
    print("orders: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(counts.items())))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "raw"} for k, v in results.items()}
                     | {"ratio": round(ratio, 3), "counts": counts}))
    return 0


def profile(pid: int, url: str, script: Path, args) -> None:
    """Sample the service with py-spy while wrk drives it again; prints the top of the flat profile."""
    if not shutil.which("py-spy"):
        print("py-spy is not installed: skipping the profile")
        return
    out = Path(tempfile.gettempdir()) / "bench_orders_profile.txt"
    spy = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
                            "--duration", str(args.seconds), "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_wrk(url, script, args.seconds, args.connections)
    spy.wait(timeout=args.seconds + 30)
    print(f"py-spy raw stacks in {out}")


if __name__ == "__main__":
    sys.exit(main())
