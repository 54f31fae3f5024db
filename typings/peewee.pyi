# Peewee as untyped for mypy: peewee's own annotations know neither the fields its metaclass
# makes nor what .dicts() and .tuples() return, so they would only add noise.
from typing import Any

def __getattr__(name: str) -> Any: ...
