"""The OpenID provider's parts, built from Settings for ``open_service``: its clients, the signing keys it shares
with the login tokens, the provider itself; and the clients and keys alone, for the management commands."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from login.errors import StorageUnavailable
from login.service import LoginService
from oidc.authorization import Authorizations
from oidc.client_secrets import SecretHasher
from oidc.clients import ClientRegistry
from oidc.events import ProviderEvents
from oidc.grants import GrantContext, TokenEndpoint
from oidc.introspection import Introspection
from oidc.keys import KeyRing
from oidc.provider import Provider
from oidc.revocation import Revocation
from oidc.tokens import Tokens
from oidc.userinfo import AccessTokens, UserInfo
from redis_map import connect
from redis_map.authorizations import RedisAuthorizationStore
from redis_map.clients import RedisClientStore
from redis_map.connection.connect import RedisClient
from redis_map.grants import RedisGrantStore
from redis_map.keys import KeySpace
from redis_map.provider_audit import ProviderAudit
from redis_map.provider_limits import ProviderLimits
from redis_map.signing_keys import SigningKeyStore
from runtime.metrics import Metrics
from runtime.settings import Settings

log = logging.getLogger("qrlogin")

#: seconds a revoked grant is kept at least, so a replay of its code or tokens is recognised as one
REVOKED_RETENTION = 3600


def signed_lifetime(settings: Settings) -> float:
    """The longest a token we sign lives: how long a retired signing key stays published."""
    return float(max(settings.token_ttl, settings.access_token_ttl))


@asynccontextmanager
async def open_key_ring(settings: Settings, redis: RedisClient, *, refresh: bool = True) -> AsyncIterator[KeyRing]:
    """The shared signing keys (a first one made if there are none), re-read in the background while open."""
    keys = KeyRing(SigningKeyStore(redis, KeySpace(settings.namespace)), lifetime=signed_lifetime(settings))
    try:
        await keys.ensure_signer()
    except StorageUnavailable:
        # The service still starts (and answers 503 while Redis is away); the refresh loads them later.
        log.warning("signing keys not loaded: Redis is unreachable; retrying in the background")
    if refresh:
        keys.start()
    try:
        yield keys
    finally:
        await keys.stop()


def build_clients(settings: Settings, redis: RedisClient) -> ClientRegistry:
    """The registered clients, their secrets hashed under --client-secret-pepper."""
    return ClientRegistry(
        RedisClientStore(redis, KeySpace(settings.namespace)), SecretHasher(settings.client_secret_pepper)
    )


def build_provider(
    settings: Settings, redis: RedisClient, keys: KeyRing, login: LoginService, metrics: Metrics
) -> Provider:
    """The OpenID provider's parts, on the service's Redis, signing keys and login flow."""
    if not settings.client_secret_pepper:
        log.info("no --client-secret-pepper: client secrets are hashed with HMAC-SHA256 under an empty key")
    key_space = KeySpace(settings.namespace)
    clients = build_clients(settings, redis)
    events = ProviderEvents(metrics, ProviderAudit(redis, key_space))
    grants = RedisGrantStore(redis, key_space)
    tokens = Tokens(keys, access_ttl=settings.access_token_ttl)
    # A revoked grant is kept as long as its access tokens could live, at least an hour: a replay meanwhile
    # is recognised (and audited) as one.
    retention = float(max(REVOKED_RETENTION, settings.access_token_ttl))
    context = GrantContext(grants, tokens, events, refresh_ttl=settings.refresh_token_ttl, retention=retention)
    limits = ProviderLimits(redis, key_space, enabled=settings.rate_limits is not None)
    access_tokens = AccessTokens(tokens, grants, clients)
    authorizations = Authorizations(
        clients,
        RedisAuthorizationStore(redis, key_space),
        grants,
        login,
        events,
        session_ttl=settings.session_ttl,
        code_ttl=settings.code_ttl,
    )
    return Provider(
        issuer=settings.oidc_issuer,
        keys=keys,
        clients=clients,
        authorizations=authorizations,
        token_endpoint=TokenEndpoint(clients, context, limits),
        userinfo=UserInfo(access_tokens),
        revocation=Revocation(tokens, grants, events, retention=retention),
        introspection=Introspection(access_tokens, grants),
        limits=limits,
    )


@asynccontextmanager
async def open_clients(settings: Settings) -> AsyncIterator[ClientRegistry]:
    """The registered clients, for managing them (``python main.py clients``)."""
    redis = connect(settings.redis_url)
    try:
        yield build_clients(settings, redis)
    finally:
        await redis.aclose()


@asynccontextmanager
async def open_signing_keys(settings: Settings) -> AsyncIterator[tuple[SigningKeyStore, KeyRing]]:
    """The signing keys' storage and a ring reading it, for managing them (``python main.py keys``)."""
    redis = connect(settings.redis_url)
    try:
        store = SigningKeyStore(redis, KeySpace(settings.namespace))
        yield store, KeyRing(store, lifetime=signed_lifetime(settings))
    finally:
        await redis.aclose()
