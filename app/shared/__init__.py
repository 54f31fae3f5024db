"""Vocabulary every side of Torc may import: the server, the CLI, the runner, the TUI.

Standard library (and isodate) only: status names and sets, units and their formatting,
failure-handler rules, the workflow graph, configuration files, logging set-up and the
contract's field lists. ``tests/test_layers.py`` keeps it that way.
"""
