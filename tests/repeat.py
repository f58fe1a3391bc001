"""Run the test suite N times in a row and count the runs that passed: flaky tests show up as failures.

    python tests/repeat.py 10                  # the whole suite ten times
    python tests/repeat.py 5 -- tests/test_suite_e2e.py -x

Each run is a fresh ``python -m pytest -q`` (extra arguments after ``--``); the failing tests of each
run are listed, and the exit code is 1 when any run failed.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_FAILED = re.compile(r"^(?:FAILED|ERROR) (\S+)", re.M)
_SUMMARY = re.compile(r"^=*\s*(.*\d+ (?:passed|failed).*?)\s*=*$", re.M)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=int, help="how many times to run the suite")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("runs must be at least 1")
    flaky: Counter[str] = Counter()
    passed = 0
    for i in range(1, args.runs + 1):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args],
                              cwd=ROOT, capture_output=True, text=True)
        out = done.stdout + done.stderr
        summary = _SUMMARY.findall(out)
        failed = _FAILED.findall(out)
        flaky.update(failed)
        passed += done.returncode == 0
        print(f"run {i}/{args.runs}: {'PASS' if done.returncode == 0 else 'FAIL'} in {time.monotonic() - started:.0f}s"
              f" ({summary[-1] if summary else f'exit {done.returncode}'})", flush=True)
        for name in failed:
            print(f"    {name}")
    print(f"{passed}/{args.runs} runs passed, {args.runs - passed} failed")
    for name, n in flaky.most_common():
        print(f"  {n}x {name}")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
