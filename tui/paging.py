"""Rows of a long list held a page at a time, so 100,000 jobs scroll without loading them all.

``PagedRows`` knows how many rows there are and which pages it holds. Asking for a row it
does not hold returns ``None`` and records the page as wanted; the app fetches wanted pages
off the UI thread and ``store``s them. A refresh re-fetches only the pages in view and
forgets the others (they are fetched again when scrolled to), so a refresh costs one or two
requests whatever the list's length. ``LoadedRows`` is the same interface over rows already
in memory (a filtered list, the events feed).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

Record = dict[str, Any]

PAGE_SIZE = 200
MAX_PAGES = 100  # pages kept (20,000 rows); the least recently used go first


class PagedRows:
    def __init__(self, page_size: int = PAGE_SIZE, max_pages: int = MAX_PAGES) -> None:
        self.page_size = page_size
        self.max_pages = max_pages
        self.total: int | None = None  # unknown until the first page arrives
        self._pages: OrderedDict[int, list[Record]] = OrderedDict()
        self._wanted: set[int] = set()
        self._in_flight: set[int] = set()

    @property
    def loaded(self) -> bool:
        return self.total is not None

    def __len__(self) -> int:
        return self.total or 0

    def page_of(self, index: int) -> int:
        return index // self.page_size

    def row(self, index: int) -> Record | None:
        """The row at ``index``, or None when its page is not here yet (then it is wanted)."""
        page_number = self.page_of(index)
        page = self._pages.get(page_number)
        if page is None:
            if page_number not in self._in_flight:
                self._wanted.add(page_number)
            return None
        self._pages.move_to_end(page_number)
        offset = index - page_number * self.page_size
        return page[offset] if offset < len(page) else None

    def take_wanted(self) -> list[int]:
        """Pages to fetch now; they count as in flight until stored or dropped."""
        wanted = sorted(self._wanted)
        self._wanted.clear()
        self._in_flight.update(wanted)
        return wanted

    def want(self, page_number: int) -> None:
        if page_number not in self._in_flight:
            self._wanted.add(page_number)

    def store(self, page_number: int, items: list[Record], total: int) -> None:
        self._in_flight.discard(page_number)
        self._pages[page_number] = items
        self._pages.move_to_end(page_number)
        if total != self.total:
            self.total = total
            last = self.page_of(max(total - 1, 0))
            for stale in [number for number in self._pages if number > last]:
                del self._pages[stale]
        while len(self._pages) > self.max_pages:
            self._pages.popitem(last=False)

    def dropped(self, page_number: int) -> None:
        """A fetch failed: the page may be asked for again."""
        self._in_flight.discard(page_number)

    def offset_of(self, page_number: int) -> int:
        return page_number * self.page_size

    def refresh(self, first: int, last: int) -> list[int]:
        """Forget every page but those showing rows ``first``..``last``, which are wanted
        again; returns them (a refresh re-fetches only what is in view)."""
        in_view = set(range(self.page_of(max(first, 0)), self.page_of(max(last, 0)) + 1))
        for number in list(self._pages):
            if number not in in_view:
                del self._pages[number]
        self._wanted = set(in_view)
        self._in_flight -= in_view
        return sorted(in_view)


class LoadedRows:
    """Rows all in memory, with ``PagedRows``' reading interface."""

    def __init__(self, records: list[Record] | None = None) -> None:
        self.records: list[Record] = list(records or [])
        self.page_size = PAGE_SIZE

    @property
    def loaded(self) -> bool:
        return True

    @property
    def total(self) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def row(self, index: int) -> Record | None:
        return self.records[index] if 0 <= index < len(self.records) else None

    def take_wanted(self) -> list[int]:
        return []

    def refresh(self, first: int, last: int) -> list[int]:
        return []
