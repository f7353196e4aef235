"""Authorization requests in Redis while their login page is open, and which login session answers which.

``<ns>:oidc:request:<id>``: the checked request (JSON), for as long as its
page may keep showing fresh codes; ``<ns>:oidc:login:<uuid>``: a copy of the
request a login session answers, for as long as the session may live (a copy,
so the phone page and the hand-back read it in one round trip), made by the
session's creation script (``SessionStore.create``), which reads the request
in the same step: on one server the page's call for a QR is one round trip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from redis_map.connection.connect import RedisClient
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace
from redis_map.store_types import Copy


class RedisAuthorizationStore:
    """An ``AuthorizationStore`` for ``oidc.authorization.Authorizations``."""

    def __init__(self, redis: RedisClient, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys

    async def save_request(self, request_id: str, record: str, ttl: float) -> None:
        async with storage_errors():
            await self._redis.set(self._keys.authorization_request(request_id), record, px=int(ttl * 1000))

    def login_copy(self, request_id: str, ttl: float, gone: Callable[[], Exception]) -> Copy:
        """The request ``request_id`` copied for a new login session (``SessionStore.create``), ``gone()`` if
        it expired."""
        return Copy(self._keys.authorization_request(request_id), self._keys.authorization_login, int(ttl * 1000), gone)

    async def bound(self, uuid: str) -> str | None:
        async with storage_errors():
            return cast(str | None, await self._redis.get(self._keys.authorization_login(uuid)))
