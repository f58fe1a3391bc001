"""Running, watching and drilling the service: health and Prometheus metrics, dashboard counts and
summary, the incident-type table, silences, the runbook page, the child-process lifeline, the
monitor (``monitor``) and scored drills (``drills``). None of it is on the order path; it reads
the desk's state and the data directory to tell an operator what is wrong and what to do.
"""
