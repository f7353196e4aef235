"""Every Redis key and channel name of one namespace, built here and nowhere else.

::

    <ns>:session:{<tag>}<uuid>    a login session's hash, with its TTL
    <ns>:events                   where one server announces changes (PUBLISH)
    <ns>:events:{<tag>}           where a Cluster announces them (SPUBLISH), one of 256 shard channels
    <ns>:audit                    the audit stream of outcomes
    <ns>:audit:deadlines          sessions' expiry deadlines, for the audit sweep
    <ns>:rl:<rule>:{<tag>}        one rate-limit counter or slot set
    <ns>:probe                    /readyz's write probe
    <ns>:oidc:keys                the OpenID provider's signing keys: a hash, kid -> record (no TTL)
    <ns>:oidc:clients             its registered clients: a hash, client id -> record (no TTL)
    <ns>:oidc:request:<id>        a checked authorization request, while its login page is open (TTL)
    <ns>:oidc:login:<uuid>        the authorization request a login session answers, a copy (TTL)
    <ns>:oidc:grant:{<gid>}       a grant: its code, then its refresh tokens' state (TTL)
    <ns>:oidc:grant:{<gid>}:rotated         hashes of the grant's rotated refresh tokens (TTL)
    <ns>:oidc:grant:{<gid>}:revoked:<jti>   one revoked access token, until it expires (TTL)

``<tag>`` is a Redis Cluster hash tag: for a session, the uuid's first two hex
digits, shared by its key and its change channel so the transition script may
SPUBLISH in the key's own slot.
"""

from __future__ import annotations

import hashlib

#: hex digits of the uuid that form the hash tag: 16**2 = 256 channels
TAG_DIGITS = 2


def shard_tag(uuid: str) -> str:
    """The hash tag shared by a session's key and its change channel."""
    return uuid[:TAG_DIGITS]


def client_tag(who: str) -> str:
    """How a client (an IP or a user id) is named in a rate-limit key: by a hash, never by itself."""
    return hashlib.sha256(who.encode()).hexdigest()[:32]


class KeySpace:
    """The names of one namespace's keys and channels."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        #: the change channel on one server, and the stem of the shard channels on a Cluster
        self.events = f"{namespace}:events"
        self.audit_stream = f"{namespace}:audit"
        self.audit_deadlines = f"{namespace}:audit:deadlines"
        self.probe = f"{namespace}:probe"
        #: the signing keys, durable (no TTL): every instance signs and checks with them
        self.signing_keys = f"{namespace}:oidc:keys"
        #: the registered clients, durable (no TTL)
        self.clients = f"{namespace}:oidc:clients"

    def authorization_request(self, request_id: str) -> str:
        return f"{self.namespace}:oidc:request:{request_id}"

    def authorization_login(self, uuid: str) -> str:
        return f"{self.namespace}:oidc:login:{uuid}"

    def grant(self, grant_id: str) -> str:
        """A grant's hash; ``{<gid>}`` is its Cluster hash tag, shared by all of the grant's keys."""
        return f"{self.namespace}:oidc:grant:{{{grant_id}}}"

    def grant_rotated(self, grant_id: str) -> str:
        return f"{self.grant(grant_id)}:rotated"

    def revoked_access_token(self, grant_id: str, jti: str) -> str:
        return f"{self.grant(grant_id)}:revoked:{jti}"

    def durable(self) -> frozenset[str]:
        """The keys kept without a TTL on purpose (run Redis with AOF): the provider's signing keys and clients."""
        return frozenset({self.signing_keys, self.clients})

    def session(self, uuid: str) -> str:
        return f"{self.namespace}:session:{{{shard_tag(uuid)}}}{uuid}"

    def shard_channel(self, uuid: str) -> str:
        """The shard channel announcing changes of session ``uuid`` on a Cluster."""
        return f"{self.events}:{{{shard_tag(uuid)}}}"

    def shard_channels(self) -> list[str]:
        """Every shard channel, one per hash tag."""
        return [self.shard_channel(f"{bucket:0{TAG_DIGITS}x}") for bucket in range(16**TAG_DIGITS)]

    def rate_limit(self, rule: str, tag: str) -> str:
        """The key of one rate-limit rule for one client or session; ``tag`` is its Cluster hash tag."""
        return f"{self.namespace}:rl:{rule}:{{{tag}}}"
