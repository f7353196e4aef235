"""What Redis failing looks like, as opposed to bad data: unreachable, or up but refusing.

Two kinds of failure are the server's state, not our bug, and each becomes a
503 (``redis_map.errors.storage_errors``):

- *unreachable*: no connection, no answer in time, a Cluster without a master
  for the slot (``STORAGE_ERRORS``);
- *refusing*: Redis answers, with an error reply that describes its state:
  out of memory under ``noeviction``, a read-only replica, writes stopped
  because persistence fails, a script or a load keeping it busy
  (``refusal_of``).

Any other error reply (a wrong type, a syntax error, an unknown command) is
a bug of ours and stays one: a 500 with its traceback.
"""

from __future__ import annotations

import enum
import re

from redis.exceptions import ClusterError, OutOfMemoryError, ReadOnlyError, RedisClusterException, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: every failure that means "Redis cannot be reached right now", never "bad data"
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # also MasterNotFoundError, BusyLoadingError, MaxConnectionsError, AuthenticationError
    RedisTimeoutError,
    ClusterError,  # ClusterDownError, MasterDownError
    RedisClusterException,  # the cluster could not be reached or a slot is not covered
    OSError,
)


class Refusal(enum.Enum):
    """Why a reachable Redis refused a command; each is answered with its own error code."""

    #: over ``maxmemory`` with ``noeviction``: writes refused until memory is freed or the limit raised
    FULL = "full"
    #: writes refused: a replica (``REPLICAOF``), persistence failing (MISCONF), too few replicas
    READ_ONLY = "read_only"
    #: busy for now (a long script, loading its data set, a replica without its master) or not allowed (ACL)
    UNAVAILABLE = "unavailable"


#: error replies redis-py gives a class of their own
REFUSAL_ERRORS: dict[type[ResponseError], Refusal] = {
    OutOfMemoryError: Refusal.FULL,
    ReadOnlyError: Refusal.READ_ONLY,
}

#: Redis's error codes (the first word of an error reply) that describe its state, not our command.
#: redis-py keeps the code in the text of the ones it has no class for, and Redis < 7 wraps an
#: error raised inside a script as "Error running script ...: -OOM command not allowed ...".
REFUSAL_CODES: dict[str, Refusal] = {
    "OOM": Refusal.FULL,
    "READONLY": Refusal.READ_ONLY,
    "MISCONF": Refusal.READ_ONLY,  # stop-writes-on-bgsave-error: the disk is failing
    "NOREPLICAS": Refusal.READ_ONLY,  # min-replicas-to-write not met
    "BUSY": Refusal.UNAVAILABLE,  # a script ran past busy-reply-threshold
    "LOADING": Refusal.UNAVAILABLE,
    "MASTERDOWN": Refusal.UNAVAILABLE,  # a replica with replica-serve-stale-data no
    "TRYAGAIN": Refusal.UNAVAILABLE,
    "NOPERM": Refusal.UNAVAILABLE,  # an ACL that does not let us run the command: configuration
}

#: an error code at the start of a reply, or after the "-" of an error relayed from inside a script
_CODE = re.compile(r"(?:^|\s-)([A-Z]{2,})\b")


def refusal_of(exc: ResponseError) -> Refusal | None:
    """Why Redis refused, if ``exc`` describes the server's state; None for an error of ours."""
    for kind, refusal in REFUSAL_ERRORS.items():
        if isinstance(exc, kind):
            return refusal
    for code in _CODE.findall(str(exc)):
        by_code = REFUSAL_CODES.get(code)
        if by_code is not None:
            return by_code
    return None


def reply_code(exc: BaseException) -> str:
    """A short name of the failure for the log: Redis's error code, else the exception's class.

    Never the whole text: a failed pipeline's message quotes the command and its arguments.
    """
    if isinstance(exc, OutOfMemoryError):
        return "OOM"
    if isinstance(exc, ReadOnlyError):
        return "READONLY"
    if isinstance(exc, ResponseError):
        for code in _CODE.findall(str(exc)):
            if code in REFUSAL_CODES:
                return str(code)
    return type(exc).__name__


class TopologyChanged(Exception):
    """The server we subscribed on no longer serves our channels (failover or resharding)."""


#: what ends a subscription and makes the listener rebuild it
SUBSCRIPTION_ERRORS: tuple[type[BaseException], ...] = (*STORAGE_ERRORS, TopologyChanged)
