"""Benchmarks: scripts that print figures (run them directly, e.g. python benchmarks/publish.py)."""
