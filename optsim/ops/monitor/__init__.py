"""The monitor: poll the service and the feed heartbeat, turn what it sees into incidents.

``observe`` gathers one poll (HTTP + heartbeat file), ``detectors`` turns (previous poll state,
observation) into findings as pure functions, ``tracker`` opens/updates/auto-resolves incidents in the
incident log with hysteresis, ``loop`` wires them on the configured interval.
"""
