"""Benchmarks: `python -m bench --scale small|large` (the Makefile's `make bench`).

Each area is a module here with `run(ctx)` (helpers start with an underscore); it measures and
calls `ctx.report(...)` / `ctx.measure(...)`, which print `bench: <name> = <value> <unit>` and,
indented below, the runs the figure is the median of (at least three) and, at the large scale,
its target and whether it is met; the last line counts the targets met. The load area seeds
the database and then gives it a month of history (credit runs, overrides, ETL runs), because
a fresh seed flatters what reads accumulated data. Figures are printed, not asserted (the
machines are shared and noisy); answers are: a raw-vs-mart pair that answers differently
stops the bench.
"""
