"""The process's one-way switch from serving to stopping."""

from __future__ import annotations


class Shutdown:
    """Whether the process is stopping: begun once by the composition root, never undone.

    Whatever must answer differently while stopping (a wait that would park,
    the readiness check) asks :attr:`closing` instead of owning a flag.
    """

    __slots__ = ("_closing",)

    def __init__(self) -> None:
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once :meth:`begin` was called."""
        return self._closing

    def begin(self) -> None:
        """Stop accepting work: waits answer at once instead of parking, readiness fails."""
        self._closing = True
