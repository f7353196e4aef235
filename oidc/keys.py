"""Signing keys: RS256 key pairs every instance shares, and their rotation with no downtime.

A key's life, all of it decided by the clock and the key set, so every
instance reading the same set makes the same choice at the same moment:

- **published** (in the JWKS) from the moment it is stored;
- **signing** from its ``signs_from`` until the next key's ``signs_from``.  A
  rotation sets ``signs_from`` ahead (``ACTIVATION_DELAY``), longer than an
  instance takes to re-read the set (``KEY_REFRESH_INTERVAL``) and a relying
  party may cache the JWKS (``JWKS_MAX_AGE``): everyone knows the key before
  anything is signed with it;
- **retired** once the next key signs: still published, and still accepted,
  for the longest lifetime of anything it signed (plus ``CLOCK_SKEW``), so
  every token it signed verifies until that token expires;
- **expired**: no longer published or accepted; ``python main.py keys prune``
  deletes it.

Keys are generated, serialised, published and checked with joserfc; kid is the
key's RFC 7638 thumbprint.  Where the records live is a ``KeySource``
(``redis_map.signing_keys``); this module knows no Redis.  A key and the key set's rules are in
``key_set.py``; this module holds an instance's copy of the set (``KeyRing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import JoseError

from login.errors import LoginError, StorageUnavailable
from oidc.key_set import ALGORITHM, KeySet, SigningKey

log = logging.getLogger("qrlogin.keys")

#: seconds between an instance's re-reads of the key set
KEY_REFRESH_INTERVAL = 30.0
#: seconds a relying party may cache the JWKS (its Cache-Control max-age)
JWKS_MAX_AGE = 300
#: a rotated-in key signs this many seconds after it is stored: > JWKS_MAX_AGE + KEY_REFRESH_INTERVAL, with margin
ACTIVATION_DELAY = 900.0
#: leeway on the times (exp, iat, nbf) of tokens we check ourselves: our instances share a clock (NTP)
TOKEN_LEEWAY = 5
#: longest token we try to verify; ours are well under 2 KiB
MAX_TOKEN_LENGTH = 8192
#: fewest seconds between two re-reads forced by a token signed with a key we do not know
FORCED_REFRESH_INTERVAL = 1.0


class BadToken(Exception):
    """A token that is not one of ours: malformed, wrongly signed, unknown key, wrong type, bad claims."""


class NoSigningKey(LoginError):
    """The key set has no key that may sign now (not loaded yet, or an operator removed it): nothing can be issued."""

    error = "signing_key_unavailable"
    status_code = 503
    description = "No signing key is available yet; try again shortly."


class KeySource(Protocol):
    """Where the key records live, shared by every instance."""

    async def load(self) -> Mapping[str, str]:
        """Every record, by kid."""
        ...

    async def add(self, kid: str, record: str, *, only_if_empty: bool = False) -> bool:
        """Stores a record; with ``only_if_empty``, only when there is none yet (whether it did)."""
        ...


class KeyRing:
    """This instance's copy of the key set: signs with the current key, checks with the published ones.

    Signing and checking read an in-memory copy (no I/O on the request path),
    re-read every ``KEY_REFRESH_INTERVAL`` by a background task; a token naming
    a key the copy lacks forces a re-read (at most every FORCED_REFRESH_INTERVAL)
    in ``decode_fresh``.
    """

    def __init__(
        self,
        source: KeySource,
        *,
        lifetime: float,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = KEY_REFRESH_INTERVAL,
    ) -> None:
        self._source = source
        self.lifetime = lifetime
        self.clock = clock
        self._refresh_interval = refresh_interval
        self.keys = KeySet((), lifetime)
        #: the records as last read, by kid, with the keys parsed from them
        self._parsed: dict[str, tuple[str, SigningKey]] = {}
        self._last_forced = -math.inf
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> KeySet:
        """Re-read the key set; a record that cannot be read is skipped (and logged), never fatal.

        A record unchanged since the last read keeps its parsed key: only new keys are loaded.
        """
        keys = []
        parsed: dict[str, tuple[str, SigningKey]] = {}
        for kid, record in (await self._source.load()).items():
            known = self._parsed.get(kid)
            if known is not None and known[0] == record:
                key = known[1]
            else:
                try:
                    key = SigningKey.from_record(record)
                except ValueError as exc:
                    log.error("signing key %s is unreadable and ignored: %s", kid, exc)
                    continue
            parsed[kid] = (record, key)
            keys.append(key)
        self._parsed = parsed
        self.keys = KeySet.of(keys, self.lifetime)
        return self.keys

    async def ensure_signer(self) -> None:
        """Read the key set; if it is empty (a new deployment), store a first key that signs at once.

        Racing instances each offer one; only the first stored counts, and all read it back.
        """
        keys = await self.refresh()
        if keys.keys:
            return
        first = SigningKey.generate(now=self.clock())
        if await self._source.add(first.kid, first.record(), only_if_empty=True):
            log.info("no signing key yet: created %s (%s)", first.kid, ALGORITHM)
        await self.refresh()

    # -- signing and checking -----------------------------------------------------------------

    def sign(self, claims: Mapping[str, Any], *, typ: str) -> str:
        """``claims`` as a JWS signed by the current key, with ``typ`` in its header (RFC 8725 §3.11)."""
        key = self.keys.signer(self.clock())
        if key is None:
            raise NoSigningKey("no signing key is active: run 'python main.py keys rotate'")
        return jwt.encode({"alg": ALGORITHM, "kid": key.kid, "typ": typ}, dict(claims), key.key, algorithms=[ALGORITHM])

    def decode(self, token: str, *, typ: str) -> dict[str, Any]:
        """The claims of ``token`` if one of our published keys signed it as a ``typ``; else BadToken.

        Only the signature, the key and the type are checked here; the claims
        (iss, aud, exp, ...) are the caller's, with ``validate``.
        """
        if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
            # Exactly a JWS: a JWE (five parts) to our public key would be decrypted, not verified.
            raise BadToken("not a signed JWT")
        try:
            decoded = jwt.decode(token, self.keys.verifier(self.clock()), algorithms=[ALGORITHM])
        except (JoseError, ValueError, TypeError, KeyError) as exc:  # binascii and JSON errors are ValueErrors
            raise BadToken(str(exc) or type(exc).__name__) from exc
        if not decoded.header.get("kid"):
            raise BadToken("no kid")
        if decoded.header.get("typ") != typ:
            raise BadToken(f"not a {typ}")
        return dict(decoded.claims)

    async def decode_fresh(self, token: str, *, typ: str) -> dict[str, Any]:
        """``decode``, re-reading the key set once first if the token names a key we do not know."""
        try:
            return self.decode(token, typ=typ)
        except BadToken as exc:
            if not isinstance(exc.__cause__, JoseError) or "kid" not in str(exc.__cause__):
                raise
            now = time.monotonic()
            if now - self._last_forced < FORCED_REFRESH_INTERVAL:
                raise
            self._last_forced = now
            await self.refresh()
            return self.decode(token, typ=typ)

    def validate(self, claims: Mapping[str, Any], **options: Any) -> None:
        """Checks ``claims`` (exp/nbf/iat with TOKEN_LEEWAY; ``options`` as joserfc's ClaimsOption); BadToken if not."""
        registry = jwt.JWTClaimsRegistry(now=lambda: int(self.clock()), leeway=TOKEN_LEEWAY, **options)
        try:
            registry.validate(dict(claims))
        except (JoseError, ValueError, TypeError) as exc:
            raise BadToken(str(exc) or type(exc).__name__) from exc

    # -- the background re-read -----------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="qrlogin-key-refresh")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            try:
                # Still none (Redis was unreachable at start): read them, or make the first, now.
                await (self.refresh() if self.keys.keys else self.ensure_signer())
            except StorageUnavailable as exc:  # keep the copy we have; try again next round
                known = len(self.keys.keys)
                log.warning("re-reading the signing keys failed (%s); keeping the %d known", exc.error, known)
