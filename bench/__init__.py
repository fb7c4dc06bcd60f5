"""Measurements of the project as it runs: each module runs as `python -m bench.NAME`."""
