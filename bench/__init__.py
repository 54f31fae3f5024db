"""Benchmarks: torc against the process-spawn floor and peer workflow systems."""
