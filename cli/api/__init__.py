"""The parts of ``cli.client.TorcClient``: the choke point (``base``), the errors, the
transport, and one module of endpoint methods per area of the API.

Import the client from ``cli.client``; these modules are how it is kept readable. A new
endpoint is one method in the module of its resource (see CONTRIBUTING.md).
"""
