"""Grants in Redis: one hash per grant, ``<ns>:oidc:grant:{<gid>}``, changed only by Lua scripts.

The hash holds what the code is bound to (client, redirect URI, PKCE
challenge, user, scopes, nonce), the code's hash, the current refresh token's
hash, and the grant's ``status``: ``code`` until the code is redeemed, then
``active``, until ``revoked``.  It lives CODE_TTL while only a code, then the
refresh tokens' lifetime; once revoked, a while longer so a replay is
recognised as one.  Beside it, in the same Cluster slot (the ``{<gid>}`` hash
tag), the set of its rotated refresh tokens' hashes and its revoked access
tokens.  Every check-and-change is one script: two racing redemptions of a
code, or refreshes of a token, have exactly one winner.

The script that issues, redeems or refreshes also appends the audit entry of
what it did (``redis_map.provider_audit``'s form), in the same step: an entry
exactly when the change happened, and no round trip of its own.  Not on a
Cluster, where the audit stream lives in another slot than the grant: there
``Changed.audited`` is False and the caller records the event itself.
The redemption and the refresh also count their token request on the
endpoint's limits first (``TokenCount``), when given one and not on a
Cluster (``counts_limits``): a refused request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import cast

from redis.asyncio.cluster import RedisCluster

from login.models import Identity
from oidc.events import Event
from oidc.grant import Grant, GrantStatus
from redis_map.audit import AUDIT_LUA
from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script
from redis_map.errors import change_errors, storage_errors
from redis_map.keys import KeySpace
from redis_map.provider_limits import TOKEN_LIMITS_LUA, TokenCount, refusal
from redis_map.session_fields import flat_pairs
from redis_map.store_types import Record

_SCRIPTS = resources.files(__package__) / "scripts"
#: a grant's fields naming its user: a grant written by the login's exchange has the session's
_USER_FIELDS = frozenset({"sub", "name", "picture"})


def _script(name: str) -> str:
    """A grant script with the prelude defining G (the statuses), E (the audited events), ``audit()`` and
    ``token_limits()``."""
    statuses = ", ".join(f"{status.name} = '{status.value}'" for status in GrantStatus)
    events = ", ".join(f"{event.name} = '{event.value}'" for event in Event)
    prelude = f"local G = {{{statuses}}}\nlocal E = {{{events}}}\n{AUDIT_LUA}{TOKEN_LIMITS_LUA}"
    return prelude + (_SCRIPTS / name).read_text()


@dataclass(frozen=True)
class Changed:
    """A script's outcome (``ok``, ``reused``, ``unknown``, ...), its detail, and the grant's fields after.

    ``audited``: the script appended the audit entry of what it did (an ``ok``, or a ``reused`` that revoked).
    """

    outcome: str
    detail: str = ""
    fields: dict[str, str] | None = None
    audited: bool = False


def _changed(reply: list[str], audited: bool, count: TokenCount | None) -> Changed:
    outcome, *rest = reply
    if count is not None:
        count.counted = True
    if outcome == "limited":
        raise refusal(int(rest[0]), str(rest[1]))
    if outcome == "ok":
        return Changed(outcome, fields=dict(zip(rest[::2], rest[1::2], strict=True)), audited=audited)
    return Changed(outcome, rest[0] if rest else "", audited=audited)


def _code_fields(grant: Grant, code_hash: str, expires_at_ms: int) -> dict[str, str]:
    """A new grant's hash: what it is bound to, and its code."""
    return {
        **grant.fields(),
        "status": GrantStatus.CODE.value,
        "code_hash": code_hash,
        "code_expires_ms": str(expires_at_ms),
    }


class RedisGrantStore:
    """A ``GrantStore`` for the provider's grants."""

    def __init__(self, redis: RedisClient, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys
        #: the audit stream the scripts append to; none on a Cluster (another slot than the grant's)
        self._audit = [] if isinstance(redis, RedisCluster) else [keys.audit_stream]
        #: whether the redemption and refresh scripts count their token request (not on a Cluster, where the
        #: counters are in other slots than the grant)
        self.counts_limits = bool(self._audit)
        self._issue = Script(redis, _script("grant_issue.lua"))
        self._redeem = Script(redis, _script("grant_redeem.lua"))
        self._refresh = Script(redis, _script("grant_refresh.lua"))
        self._revoke = Script(redis, _script("grant_revoke.lua"))
        self._check = Script(redis, (_SCRIPTS / "grant_check.lua").read_text())

    async def issue_code(self, grant: Grant, code_hash: str, expires_at_ms: int, ttl_ms: int, ip: str) -> bool:
        """Stores a new grant holding only its code, for ``ttl_ms``; whether ``code_issued`` was audited with it."""
        fields = _code_fields(grant, code_hash, expires_at_ms)
        args: list[str | int] = [ttl_ms, grant.grant_id, ip, *flat_pairs(fields)]
        async with change_errors():
            await self._issue(keys=[self._keys.grant(grant.grant_id), *self._audit], args=args)
        return bool(self._audit)

    def code_record(self, grant: Grant, code_hash: str, expires_at_ms: int, ttl_ms: int, ip: str) -> Record | None:
        """The new grant holding only its code, for the login's exchange to write (``SessionStore.exchange``),
        its user the session's, with its ``code_issued`` entry; None on a Cluster (another slot: `issue_code`)."""
        if not self._audit:
            return None
        fields = {k: v for k, v in _code_fields(grant, code_hash, expires_at_ms).items() if k not in _USER_FIELDS}
        entry = {"outcome": Event.CODE_ISSUED.value, "grant": grant.grant_id, "client": grant.client_id, "ip": ip}
        return Record(self._keys.grant(grant.grant_id), ttl_ms, fields, entry)

    async def redeem(
        self,
        grant_id: str,
        *,
        code_hash: str,
        client_id: str,
        redirect_uri: str,
        challenge: str,
        now_ms: int,
        refresh_hash: str,
        grant_ttl_ms: int,
        retention_ms: int,
        ip: str,
        count: TokenCount | None = None,
    ) -> Changed:
        """Redeems a code (``grant_redeem.lua``), ``count`` counted first when ``counts_limits`` (429 past it)."""
        args: list[str | int] = [
            code_hash, client_id, redirect_uri, challenge, now_ms, refresh_hash, grant_ttl_ms, retention_ms,
            grant_id, ip,
        ]  # fmt: skip
        keys = [self._keys.grant(grant_id), *self._audit]
        count = self._folded(count, keys, args)
        async with change_errors():
            reply = await self._redeem(keys=keys, args=args)
        return _changed(reply, bool(self._audit), count)

    async def refresh(
        self,
        grant_id: str,
        *,
        presented_hash: str,
        new_hash: str,
        client_id: str,
        retention_ms: int,
        ip: str,
        count: TokenCount | None = None,
    ) -> Changed:
        """Rotates a refresh token (``grant_refresh.lua``), ``count`` counted first as for ``redeem``."""
        keys = [self._keys.grant(grant_id), self._keys.grant_rotated(grant_id), *self._audit]
        args: list[str | int] = [presented_hash, new_hash, client_id, retention_ms, grant_id, ip]
        count = self._folded(count, keys, args)
        async with change_errors():
            reply = await self._refresh(keys=keys, args=args)
        return _changed(reply, bool(self._audit), count)

    def _folded(self, count: TokenCount | None, keys: list[str], args: list[str | int]) -> TokenCount | None:
        """``count`` with its keys and arguments appended to a script's, or None where it cannot be counted there."""
        if count is None or not self.counts_limits:
            return None
        keys.extend(count.keys)
        args.extend(count.args)
        return count

    async def revoke(self, grant_id: str, *, presented_hash: str, client_id: str, retention_ms: int) -> str:
        """Revokes the grant of a refresh token: ``revoked``, ``already``, ``unknown`` or ``wrong_client``."""
        keys = [self._keys.grant(grant_id), self._keys.grant_rotated(grant_id)]
        async with change_errors():
            return str(await self._revoke(keys=keys, args=[presented_hash, client_id, retention_ms]))

    async def revoke_access_token(self, grant_id: str, jti: str, ttl_ms: int) -> None:
        """Marks one access token revoked until it expires anyway."""
        async with change_errors():
            await self._redis.set(self._keys.revoked_access_token(grant_id, jti), "1", px=max(1, ttl_ms))

    async def access_token_user(self, grant_id: str, jti: str) -> Identity | None:
        """The user of an access token of ``grant_id`` if it still holds (grant active, token not revoked), in one
        round trip; the ``sub`` is the token's to give, so it is left empty here."""
        keys = [self._keys.grant(grant_id), self._keys.revoked_access_token(grant_id, jti)]
        async with storage_errors():
            status, revoked, name, picture = await self._check(keys=keys)
        if status != GrantStatus.ACTIVE.value or int(revoked):
            return None
        return Identity(sub="", name=name, picture=picture)

    async def read(self, grant_id: str) -> tuple[dict[str, str], int]:
        """The grant's fields as stored ({} when gone) and its TTL in ms."""
        key = self._keys.grant(grant_id)
        async with storage_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.pttl(key)
            fields, ttl_ms = await pipe.execute()
        return cast(dict[str, str], fields), int(ttl_ms)
