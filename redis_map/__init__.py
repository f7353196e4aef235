"""The Redis-backed status map and the wake-up of waiters across processes."""

from __future__ import annotations

from redis_map.connection.connect import connect, connect_pubsub
from redis_map.connection.embedded import EmbeddedRedis
from redis_map.listener import ChangeListener
from redis_map.store import SessionStore

__all__ = [
    "ChangeListener",
    "EmbeddedRedis",
    "SessionStore",
    "connect",
    "connect_pubsub",
]
