"""What "Redis cannot be reached right now" looks like, as opposed to bad data."""

from __future__ import annotations

from redis.exceptions import ClusterError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

#: every failure that means "Redis cannot be reached right now", never "bad data"
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,  # also MasterNotFoundError, BusyLoadingError, MaxConnectionsError
    RedisTimeoutError,
    ClusterError,  # ClusterDownError, MasterDownError
    RedisClusterException,  # the cluster could not be reached or a slot is not covered
    OSError,
)


class TopologyChanged(Exception):
    """The server we subscribed on no longer serves our channels (failover or resharding)."""


#: what ends a subscription and makes the listener rebuild it
SUBSCRIPTION_ERRORS: tuple[type[BaseException], ...] = (*STORAGE_ERRORS, TopologyChanged)
