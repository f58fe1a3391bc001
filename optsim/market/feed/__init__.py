"""The mock quote feed: a seeded options market that publishes quotes.json and a heartbeat.

``surface`` prices (clock, GBM, skew, Black-Scholes), ``quoting`` turns theo into venue quotes and
the NBBO, ``prints`` keeps the trade tape, ``market`` ties them over the listed chain, ``faults``
applies the drills and ``publisher`` writes the files. ``mock_quote_feed.py`` is the process.
"""
from .market import QuoteFeed
from .publisher import HEARTBEAT_FILE, QUOTES_FILE, Publisher

__all__ = ["HEARTBEAT_FILE", "QUOTES_FILE", "Publisher", "QuoteFeed"]
