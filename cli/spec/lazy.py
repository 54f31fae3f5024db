"""A sequence whose items are made or read back when asked for (expanded jobs and files,
stored job records, the dependency graph): indexing, negative positions and slices in one
place, so each kind only says how long it is and how to get item ``i``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, overload

T = TypeVar("T")


class LazySequence(Sequence[T]):
    """Subclasses define ``__len__`` and ``_at`` (a position in range, never negative)."""

    def _at(self, position: int) -> T:
        raise NotImplementedError

    def _checked(self, position: int) -> int:
        """``position`` as a non-negative index; IndexError outside the sequence."""
        length = len(self)
        if not -length <= position < length:
            raise IndexError(position)
        return position % length

    @overload
    def __getitem__(self, position: int) -> T: ...
    @overload
    def __getitem__(self, position: slice) -> list[T]: ...
    def __getitem__(self, position: int | slice) -> T | list[T]:
        if isinstance(position, slice):
            return [self._at(i) for i in range(*position.indices(len(self)))]
        return self._at(self._checked(position))
