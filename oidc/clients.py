"""The registered clients (relying parties): who may ask for logins, and where the browser may be sent back.

A client has a name (shown on the phone), its exact redirect URIs, whether
it is confidential (it has a secret: a web site's backend) or public (a
single-page or native app: PKCE only), and the scopes it may ask for.

Secrets are 256 random bits, shown once and stored as HMAC-SHA256 under a
server pepper kept outside Redis (``--client-secret-pepper``); checked in
constant time.  A slow KDF (scrypt, Argon2) exists to make guessing a
*low-entropy* secret expensive; nobody enumerates 2**256, so it would add
nothing but 50-100 ms of CPU to every token request.  The pepper makes a copy
of Redis alone useless even for checking a guess.

Where the records live is a ``ClientStore`` (``redis_map.clients``).  Each
process keeps a client it read for CLIENT_CACHE_TTL seconds (every login reads
its client three times: the authorization request, the token request and
UserInfo), so a client removed, or a secret rotated, by ``python main.py
clients`` takes effect on running instances within that time; at once on the
instance that made the change.  Unknown ids are not kept: a new client works
at once, and a stream of made-up ids fills nothing.

What a registration may hold is checked in ``client_rules.py``; secrets are hashed in ``client_secrets.py``.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from oidc.client_rules import CLIENT_ID_PATTERN, MAX_NAME, MAX_REDIRECT_URIS, ClientError, check_redirect_uri
from oidc.client_secrets import SecretHasher
from oidc.errors import InvalidClient
from oidc.recent import Recent
from oidc.scopes import SUPPORTED_SCOPES

#: random bytes of a client secret: 256 bits
SECRET_BYTES = 32
#: seconds a process keeps a client record it read: how long a removal or a rotated secret may take to
#: reach an instance other than the one that made it
CLIENT_CACHE_TTL = 5.0
#: most client records a process keeps (the oldest read goes first)
CLIENT_CACHE_SIZE = 1024


class UnknownClient(LookupError):
    """No client has this id."""


@dataclass(frozen=True)
class Client:
    """One registered client, as stored (its secret only as a hash)."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]
    #: a public client has no secret and must use PKCE
    public: bool
    scopes: frozenset[str]
    created_at: float
    secret_hash: str = field(default="", repr=False)

    @property
    def confidential(self) -> bool:
        return not self.public

    @property
    def kind(self) -> str:
        return "public" if self.public else "confidential"

    def record(self) -> str:
        return json.dumps(
            {
                "client_id": self.client_id,
                "name": self.name,
                "redirect_uris": list(self.redirect_uris),
                "public": self.public,
                "scopes": sorted(self.scopes),
                "created_at": self.created_at,
                "secret_hash": self.secret_hash,
            }
        )

    @classmethod
    def from_record(cls, text: str) -> Client:
        """The client a stored record holds; ValueError if it holds none."""
        try:
            data = json.loads(text)
            return cls(
                client_id=str(data["client_id"]),
                name=str(data["name"]),
                redirect_uris=tuple(str(uri) for uri in data["redirect_uris"]),
                public=bool(data["public"]),
                scopes=frozenset(str(scope) for scope in data["scopes"]),
                created_at=float(data["created_at"]),
                secret_hash=str(data.get("secret_hash", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"not a client record: {exc}") from exc

    def shown(self) -> dict[str, object]:
        """What ``clients show`` prints: everything but the secret's hash."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "type": self.kind,
            "redirect_uris": list(self.redirect_uris),
            "scopes": sorted(self.scopes),
            "created_at": self.created_at,
        }


class ClientStore(Protocol):
    """Where client records live, shared by every instance (durable)."""

    async def get(self, client_id: str) -> str | None: ...

    async def all(self) -> Mapping[str, str]: ...

    async def add(self, client_id: str, record: str) -> bool:
        """Stores a new record; False if the id is taken."""
        ...

    async def replace(self, client_id: str, record: str) -> bool:
        """Replaces an existing record; False if there is none (removed meanwhile)."""
        ...

    async def remove(self, client_id: str) -> bool: ...


class ClientRegistry:
    """Registers clients, finds them, and checks their secrets."""

    def __init__(
        self,
        store: ClientStore,
        hasher: SecretHasher,
        *,
        cache_ttl: float = CLIENT_CACHE_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._cache_ttl = cache_ttl
        #: the clients read lately
        self._cache: Recent[str, Client] = Recent(CLIENT_CACHE_SIZE, clock)

    async def register(
        self,
        *,
        name: str,
        redirect_uris: Iterable[str],
        public: bool = False,
        scopes: Iterable[str] = ("openid", "profile"),
        client_id: str | None = None,
    ) -> tuple[Client, str | None]:
        """A new client and its secret (None for a public one: it has none); ClientError if it cannot be."""
        name = name.strip()
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise ClientError(f"the name must be 1 to {MAX_NAME} printable characters")
        uris = tuple(dict.fromkeys(check_redirect_uri(uri, public=public) for uri in redirect_uris))
        if not uris or len(uris) > MAX_REDIRECT_URIS:
            raise ClientError(f"give 1 to {MAX_REDIRECT_URIS} redirect URIs")
        allowed = frozenset(scopes)
        unknown = allowed - SUPPORTED_SCOPES
        if unknown or "openid" not in allowed:
            raise ClientError(
                f"scopes must include openid and be among {' '.join(sorted(SUPPORTED_SCOPES))}"
                + (f" (unknown: {' '.join(sorted(unknown))})" if unknown else "")
            )
        client_id = client_id or secrets.token_hex(16)
        if not CLIENT_ID_PATTERN.fullmatch(client_id):
            raise ClientError("a client id is 3 to 64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)")
        secret = None if public else secrets.token_urlsafe(SECRET_BYTES)
        client = Client(
            client_id=client_id,
            name=name,
            redirect_uris=uris,
            public=public,
            scopes=allowed,
            created_at=time.time(),
            secret_hash=self._hasher.hash(secret) if secret else "",
        )
        if not await self._store.add(client_id, client.record()):
            raise ClientError(f"the client id {client_id!r} is taken")
        return client, secret

    async def find(self, client_id: str) -> Client | None:
        """The client, or None (unknown, or its record unreadable); as read up to ``cache_ttl`` seconds ago."""
        cached = self._cache.get(client_id)
        if cached is not None:
            return cached
        if not CLIENT_ID_PATTERN.fullmatch(client_id):
            return None
        read_at = self._cache.now()
        record = await self._store.get(client_id)
        self._cache.forget(client_id)
        if record is None:
            return None
        try:
            client = Client.from_record(record)
        except ValueError:
            return None
        if self._cache_ttl > 0:
            self._cache.put(client_id, client, read_at + self._cache_ttl)
        return client

    async def require(self, client_id: str) -> Client:
        client = await self.find(client_id)
        if client is None:
            raise UnknownClient(client_id)
        return client

    async def all(self) -> list[Client]:
        clients = []
        for record in (await self._store.all()).values():
            try:
                clients.append(Client.from_record(record))
            except ValueError:
                continue
        return sorted(clients, key=lambda client: (client.created_at, client.client_id))

    async def authenticate(self, client_id: str, secret: str | None) -> Client:
        """The client if ``secret`` is its secret (a public one: if none is given); else InvalidClient.

        Every refusal reads the same to the caller, so an unknown id cannot be told from a wrong secret.
        """
        client = await self.find(client_id)
        if client is None:
            raise InvalidClient()
        if client.public:
            if secret:
                raise InvalidClient("A public client has no secret; authenticate with 'none' and PKCE.")
            return client
        if not secret:
            raise InvalidClient("Client authentication is required (client_secret_basic or client_secret_post).")
        if not self._hasher.matches(secret, client.secret_hash):
            raise InvalidClient()
        return client

    def secret_needs_rotation(self, client: Client) -> bool:
        """Whether the client's secret was hashed under another pepper (so no secret can match it now)."""
        return client.confidential and self._hasher.hashed_with_another_pepper(client.secret_hash)

    async def rotate_secret(self, client_id: str) -> str:
        """A new secret for a confidential client (the old one stops working at once)."""
        client = await self.require(client_id)
        if client.public:
            raise ClientError(f"{client_id} is a public client: it has no secret")
        secret = secrets.token_urlsafe(SECRET_BYTES)
        replaced = await self._store.replace(client_id, replace(client, secret_hash=self._hasher.hash(secret)).record())
        self._cache.forget(client_id)
        if not replaced:
            raise UnknownClient(client_id)
        return secret

    async def remove(self, client_id: str) -> None:
        removed = await self._store.remove(client_id)
        self._cache.forget(client_id)
        if not removed:
            raise UnknownClient(client_id)
