"""Redis failing, as the domain's errors: ``storage_errors()`` around a read, ``change_errors()`` around a change."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import partial

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from login.errors import OutcomeUnknown, StorageFull, StorageReadOnly, StorageUnavailable
from redis_map.connection.failures import STORAGE_ERRORS, Refusal, refusal_of, reply_code

_storage_log = logging.getLogger("qrlogin.storage")

#: the domain error each kind of refusal is answered with
_REFUSAL_ERRORS: Mapping[Refusal, Callable[[], StorageUnavailable]] = {
    Refusal.FULL: StorageFull,
    Refusal.READ_ONLY: StorageReadOnly,
    Refusal.UNAVAILABLE: partial(StorageUnavailable, "The session store is busy; try again shortly."),
}


@asynccontextmanager
async def storage_errors() -> AsyncIterator[None]:
    """Turn Redis failing into a StorageUnavailable (503), saying which kind when that helps operators.

    Unreachable or slow: StorageUnavailable; out of memory: StorageFull; refusing
    writes (a replica, persistence failing): StorageReadOnly; busy (a long script,
    loading): StorageUnavailable.  Each failure is logged here as one line, without
    a traceback: it is Redis's state, not our bug.  Any other error reply is a bug
    of ours and goes on as it is (a 500 with its traceback).
    """
    try:
        yield
    except STORAGE_ERRORS as exc:
        _storage_log.warning("redis unreachable: %s: %.200s", type(exc).__name__, exc)
        raise StorageUnavailable() from exc
    except ResponseError as exc:
        refusal = refusal_of(exc)
        if refusal is None:
            raise
        error = _REFUSAL_ERRORS[refusal]()
        _storage_log.warning("redis refused a command: %s (answered %s)", reply_code(exc), error.error)
        raise error from exc


def _reply_may_be_lost(exc: BaseException | None) -> bool:
    """Whether a failure may have come after the command reached Redis, so its effect is unknown.

    Failing to connect, or to get a connection from the pool, sends nothing;
    a read that times out or a connection that breaks while waiting may follow
    a command Redis has run.
    """
    # redis-py's asyncio client raises the builtin TimeoutError on a read timeout, its own on a connect timeout.
    if not isinstance(exc, RedisConnectionError | RedisTimeoutError | TimeoutError):
        return False
    text = str(exc)
    return "connecting" not in text and "No connection available" not in text


@asynccontextmanager
async def change_errors() -> AsyncIterator[None]:
    """``storage_errors()`` for a command that changes state: an answer lost after sending is OutcomeUnknown."""
    try:
        async with storage_errors():
            yield
    except StorageUnavailable as exc:
        if type(exc) is StorageUnavailable and _reply_may_be_lost(exc.__cause__):
            raise OutcomeUnknown() from exc.__cause__
        raise
