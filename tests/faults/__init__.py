"""Fault-injection suite of the whole system (``pytest -m faults``)."""
