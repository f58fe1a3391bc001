"""The options rules that hold anywhere: OCC symbols and ticks, listed expiries and the chain,
Black-Scholes, multi-leg structure and pricing, and the validated order (request models and spec).
Pure functions and values with no I/O and no service state, so the service, the feed, the fill
simulator's callers and research all share one definition of what an option and an order are.
"""
