"""Scored drills: the service-side faults (``faults``), the drill log (``log``), the scenario files
and their checks (``scenarios``), the runner that injects, detects, acknowledges, mitigates and
resolves (``runner``), and ``run_simulator.py drill`` (``cli``). Kept together because a drill
is one workflow across them; feed faults are the feed's own (``optsim.market.feedctl``).
"""
