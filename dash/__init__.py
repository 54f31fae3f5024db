"""``torc-dash``: the web dashboard, an HTTP client of ``torc-server``.

A Flask app served by waitress (``dash.main``): it serves the page and its assets (all of them,
vendor libraries included: login nodes often have no internet), forwards the API's paths
to the server untouched (``dash.proxy``), runs the ``torc`` CLI for the operations the CLI
already does well (``dash.commands``, ``dash.routes``), streams a run's output and a
workflow's events to the browser (``dash.streams``), and in standalone mode starts and stops
a ``torc-server`` of its own (``dash.managed``). Like the CLI it imports from ``app`` only
``app.shared`` and ``app.version``; it talks to the server through ``cli.client``.
"""
