"""What the report, log and plot commands compute: pure functions over API records and files.

The commands in ``cli/commands`` fetch and render; the modules here decide (resource
diagnosis, log paths, error patterns, bundles, plots), so ``torc recover`` and ``torc watch``
can reuse them.
"""
