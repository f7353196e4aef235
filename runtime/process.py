"""Process-level set-up shared by the service, the benchmark's servers and clients: fds, the event loop, the backlog."""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable

log = logging.getLogger("qrlogin")

#: pending connections the kernel queues for us: bursts of PCs must not be reset
LISTEN_BACKLOG = 2048
#: the event loops ``--event-loop`` can name
EVENT_LOOPS = ("uvloop", "asyncio")


def raise_fd_limit() -> int:
    """Raise the open-files soft limit to the hard one (each parked /wait holds a socket); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the event loop ``name`` names: 'uvloop' (asyncio's own if uvloop is missing) or 'asyncio'."""
    if name == "asyncio":
        return asyncio.new_event_loop
    if name != "uvloop":
        raise ValueError(f"--event-loop must be 'uvloop' or 'asyncio', not {name!r}")
    try:
        import uvloop
    except ImportError:
        log.warning("uvloop is not installed: running on asyncio's own event loop")
        return asyncio.new_event_loop
    # libuv's loop and sockets in C: more full logins per second (README, Performance).
    return uvloop.new_event_loop
