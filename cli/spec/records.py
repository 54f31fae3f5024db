"""The payload's job records, kept as JSON text in a spooled file as the jobs stream by.

A million records as dicts take about half a gigabyte; as JSON text they take about a tenth
of that, and past ``SPOOL_BYTES`` they move to a temporary file, so the client's memory does
not grow with the number of jobs. They are read back one at a time (``records[i]``, or in
order by iterating) and copied as they are into the request body.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import weakref
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, TypeVar

import orjson

from cli.spec.lazy import LazySequence

# Records held in memory before they move to a temporary file (in TMPDIR).
SPOOL_BYTES = 8 * 2**20
_READ_BLOCK = 2**20
_WRITE_BLOCK = 2**16
_BATCH = 10_000  # records encoded at a time when a body is written from a Mapped sequence
In = TypeVar("In")
Out = TypeVar("Out")


class JobRecords(LazySequence[dict[str, Any]]):
    """Append-only; each record is one JSON object, the records separated by commas, so the
    file's content is the inside of the payload's ``jobs`` array."""

    def __init__(self, spool_bytes: int | None = None) -> None:
        self._file: IO[bytes] = tempfile.SpooledTemporaryFile(
            max_size=SPOOL_BYTES if spool_bytes is None else spool_bytes
        )
        self._ends = array("q")  # where each record ends in the file
        self._pending = bytearray()  # appended, not yet written
        self._written = 0
        # Payloads are passed around like lists: the file goes when the records do.
        self._closer = weakref.finalize(self, self._file.close)

    def append(self, record: dict[str, Any]) -> None:
        if self._ends:
            self._pending += b","
        self._pending += orjson.dumps(record)
        self._ends.append(self._written + len(self._pending))
        if len(self._pending) >= _WRITE_BLOCK:
            self._flush()

    def _flush(self) -> None:
        """Written in blocks: one file write per record costs more than the record."""
        if self._pending:
            self._file.seek(0, 2)  # a read may have moved it
            self._file.write(self._pending)
            self._written += len(self._pending)
            self._pending.clear()

    def __len__(self) -> int:
        return len(self._ends)

    def _at(self, position: int) -> dict[str, Any]:
        self._flush()
        start = self._ends[position - 1] + 1 if position else 0
        self._file.seek(start)
        return orjson.loads(self._file.read(self._ends[position] - start))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """In order, reading the file in blocks (not one seek per record)."""
        self._flush()
        buffer, base, start = b"", 0, 0  # base: the file offset of buffer[0]
        for end in self._ends:
            if end > base + len(buffer):
                kept = buffer[start - base :]  # empty when the record starts past the buffer
                self._file.seek(start + len(kept))
                more = self._file.read(max(_READ_BLOCK, end - start - len(kept)))
                buffer, base = kept + more, start
            yield orjson.loads(buffer[start - base : end - base])
            start = end + 1

    def copy_array_to(self, out: IO[bytes]) -> None:
        """Write the records as one JSON array."""
        self._flush()
        out.write(b"[")
        self._file.seek(0)
        shutil.copyfileobj(self._file, out, _READ_BLOCK)
        out.write(b"]")

    def close(self) -> None:
        self._closer()


class Mapped(LazySequence[Out]):
    """``items[i]`` passed through ``convert`` each time it is read, so a million files'
    records are never all made; an entry assigned to replaces it (as in a list)."""

    def __init__(self, items: Sequence[In], convert: Callable[[In], Out]) -> None:
        self._items = items
        self._convert = convert
        self._assigned: dict[int, Out] = {}

    def __len__(self) -> int:
        return len(self._items)

    def _at(self, position: int) -> Out:
        if position in self._assigned:
            return self._assigned[position]
        return self._convert(self._items[position])

    def __setitem__(self, position: int, value: Out) -> None:
        self._assigned[self._checked(position)] = value

    def __iter__(self) -> Iterator[Out]:
        converted = map(self._convert, self._items)
        if not self._assigned:
            return converted
        return (self._assigned.get(i, item) for i, item in enumerate(converted))


def request_body(payload: dict[str, Any], spool_bytes: int | None = None) -> IO[bytes]:
    """The payload as a JSON file ready to send, rewound (the caller closes it). JobRecords
    are copied as they are, never parsed; other sequences that are not lists (``Mapped``)
    are written a batch at a time."""
    body: IO[bytes] = tempfile.SpooledTemporaryFile(
        max_size=SPOOL_BYTES if spool_bytes is None else spool_bytes
    )
    body.write(b"{")
    for number, (key, value) in enumerate(payload.items()):
        body.write((b"," if number else b"") + orjson.dumps(key) + b":")
        if isinstance(value, JobRecords):
            value.copy_array_to(body)
        elif isinstance(value, Sequence) and not isinstance(value, list | tuple | str):
            _write_array(body, value)
        else:
            body.write(orjson.dumps(value))
    body.write(b"}")
    body.seek(0)
    return body


def _write_array(out: IO[bytes], items: Iterable[Any]) -> None:
    out.write(b"[")
    remaining = iter(items)
    separator = b""
    while batch := list(itertools.islice(remaining, _BATCH)):
        out.write(separator + orjson.dumps(batch)[1:-1])
        separator = b","
    out.write(b"]")
