"""Benchmarks: the cost of memory per turn, flat in history size, steady under slow LLMs.

`python -m bench` (or `make bench`) runs them all and writes docs/benchmarks.md and .json.
Benchmarks measure; they are never run as timed tests (tests/bench only smoke-runs them).
"""
