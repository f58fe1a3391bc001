"""optsim: the options order-routing ops simulator (service, domain rules, feed and monitor logic)."""

__version__ = "0.1.0"
