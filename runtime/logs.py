"""The service's log: Tornado's format (coloured on a terminal) on stderr, made cheaper per line.

Every request writes an access line, so what ``logging`` does per line is a
per-request cost.  The line is byte for byte Tornado's ``LogFormatter``'s;
only work whose result the format never shows is skipped: the time string is
formatted once a second, and a record does not look up the thread, process or
task the format does not print.
"""

from __future__ import annotations

import logging
import re

from tornado.log import LogFormatter

#: ``logging``'s module flags that make every record look up fields, with those fields (only flags this
#: Python has are touched: ``logAsyncioTasks`` is 3.12's)
OPTIONAL_RECORD_FIELDS = {
    "logThreads": ("thread", "threadName"),
    "logProcesses": ("process",),
    "logMultiprocessing": ("processName",),
    "logAsyncioTasks": ("taskName",),
}


class SecondCachedFormatter(LogFormatter):
    """Tornado's ``LogFormatter`` with the time string formatted once per second, not once per line.

    A ``datefmt`` (``time.strftime``'s) shows whole seconds at most, so every
    record of one second has the same time string.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str | None, str] = (-1, None, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is None:  # logging's default then adds the milliseconds
            return super().formatTime(record, datefmt)
        second, cached_datefmt, text = self._second
        whole = int(record.created)  # as time.localtime rounds it (down)
        if whole != second or datefmt != cached_datefmt:
            text = super().formatTime(record, datefmt)
            self._second = (whole, datefmt, text)
        return text


def unprinted_record_flags(fmt: str) -> list[str]:
    """The names of ``OPTIONAL_RECORD_FIELDS``' flags none of whose fields ``fmt`` (a %-style format) prints."""
    printed = set(re.findall(r"%\((\w+)\)", fmt))
    return [flag for flag, names in OPTIONAL_RECORD_FIELDS.items() if printed.isdisjoint(names)]


def set_up_logging(level: str) -> None:
    """Tornado's log format (coloured on a terminal) on stderr, at ``level``, for the whole process."""
    formatter = SecondCachedFormatter()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    for flag in unprinted_record_flags(formatter._fmt or ""):
        if hasattr(logging, flag):
            setattr(logging, flag, False)
