"""Measurement scripts (benchmarks, drawing scores, load and latency probes): `python -m bench.NAME`."""
