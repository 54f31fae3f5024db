__version__ = "0.1.0"
# The upstream API contract this server is wire-compatible with.
API_VERSION = "v0.7.0"
