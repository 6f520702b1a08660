"""Benchmarks: `python -m bench --scale small|large` (the Makefile's `make bench`).

Each area is a module here with `run(ctx)`; it measures and calls `ctx.report(...)`, which
prints `bench: <name> = <value> <unit>`. Figures are printed, never asserted: the machines
are shared and noisy.
"""
