"""The Redis-backed status map and the wake-up of waiters across processes."""

from __future__ import annotations

from redis_map.connect import connect, connect_pubsub
from redis_map.embedded import EmbeddedRedis
from redis_map.listener import ChangeListener
from redis_map.store import SessionStore, uuid_of_cursor
from redis_map.waiters import SessionWatch, WaiterRegistry

__all__ = [
    "ChangeListener",
    "EmbeddedRedis",
    "SessionStore",
    "SessionWatch",
    "WaiterRegistry",
    "connect",
    "connect_pubsub",
    "uuid_of_cursor",
]
