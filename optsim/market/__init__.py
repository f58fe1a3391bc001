"""Market data: the mock quote feed (``feed``), the columnar snapshot it publishes and the checks at
its edge (``snapshot``), the service's book of the snapshot in use (``quotes``) and the feed's drill
switches (``feedctl``). Feed and service meet only through files in the data directory, so both
sides of that contract live here together.
"""
