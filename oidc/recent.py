"""What a process read or wrote lately, kept until a deadline: a bounded map that forgets its oldest entry first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """At most ``size`` values, each until the deadline it was put with (``clock()`` time); None once past it."""

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._size = size
        self._clock = clock
        #: key -> (kept until, value), oldest put first
        self._entries: dict[K, tuple[float, V]] = {}

    def now(self) -> float:
        return self._clock()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() < entry[0]:
            return entry[1]
        del self._entries[key]
        return None

    def put(self, key: K, value: V, until: float) -> None:
        """Keeps ``value`` until ``until``; past ``size`` entries, the oldest put is forgotten."""
        self._entries.pop(key, None)
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (until, value)

    def forget(self, key: K) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
