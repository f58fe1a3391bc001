"""The order path and its books: the desk, its single writer (``sequencer``) and undo journal, the
SQLite store, pre-trade risk and automatic trips, venue choice, the fill step over fillsim, and the
positions and portfolio views. Everything that decides or records what the firm holds is here, so
its latency and durability rules are in one place.
"""
