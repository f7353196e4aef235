"""A signing key pair as stored, and the key set's rules: at a given moment, which key signs, which are published
and accepted, and which have expired (the life told in ``oidc/keys.py``)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.errors import JoseError
from joserfc.jwk import KeySet as JoseKeySet
from joserfc.jwk import RSAKey

#: the one algorithm we sign with and accept: OpenID Connect requires RS256, and an
#: RSA-2048 signature costs ~0.25 ms here (README), so the cheaper ES256 is not needed
ALGORITHM = "RS256"
#: RSA modulus size (NIST SP 800-57: good beyond 2030 needs 3072, but 2048 is what every RP verifies fast)
RSA_BITS = 2048
#: allowance for relying parties' clocks, added to how long a retired key stays published
CLOCK_SKEW = 60


@dataclass(frozen=True)
class SigningKey:
    """One key pair and when it starts signing."""

    key: RSAKey = field(repr=False)
    created_at: float
    signs_from: float

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    @classmethod
    def generate(cls, *, now: float, signs_from: float | None = None) -> SigningKey:
        """A new RS256 key pair (~20-100 ms of CPU), kid its thumbprint, signing from ``signs_from`` (default now)."""
        key = RSAKey.generate_key(RSA_BITS, parameters={"alg": ALGORITHM, "use": "sig"}, private=True, auto_kid=True)
        return cls(key=key, created_at=now, signs_from=now if signs_from is None else signs_from)

    def record(self) -> str:
        """How the key is stored: JSON with the private key as PKCS #8 PEM (never served)."""
        pem = self.key.private_key.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return json.dumps(
            {"kid": self.kid, "pem": pem.decode(), "created_at": self.created_at, "signs_from": self.signs_from}
        )

    @classmethod
    def from_record(cls, text: str) -> SigningKey:
        """The key a stored record holds; ValueError if it holds none.

        The private key is loaded without ``cryptography``'s RSA consistency
        check, which costs ~30 ms of CPU per key (a stall of the event loop at
        every re-read): we generated and checked the key ourselves, and whoever
        could write a bad one into Redis could as well write a good key of
        their own.  The kid must still be the key's RFC 7638 thumbprint.
        """
        try:
            data = json.loads(text)
            if "jwk" in data:  # the first records' form: imported through the checked (slow) path, once
                key = RSAKey.import_key(data["jwk"])
            else:
                private = serialization.load_pem_private_key(
                    data["pem"].encode(), password=None, unsafe_skip_rsa_key_validation=True
                )
                if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < RSA_BITS:
                    raise ValueError(f"not an RSA key of {RSA_BITS} bits or more")
                key = RSAKey(private, private, {"alg": ALGORITHM, "use": "sig", "kid": str(data["kid"])})
            created_at, signs_from = float(data["created_at"]), float(data["signs_from"])
        except (ValueError, KeyError, TypeError, AttributeError, JoseError) as exc:
            raise ValueError(f"not a signing key record: {exc}") from exc
        if not key.is_private or key.thumbprint() != key.kid:
            raise ValueError("not a private key, or its kid is not its thumbprint")
        return cls(key=key, created_at=created_at, signs_from=signs_from)

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))


@dataclass(frozen=True)
class KeySet:
    """The keys as read at one moment, oldest first, and the longest lifetime of what they sign."""

    keys: tuple[SigningKey, ...]
    #: seconds the longest-lived signed token lives (login token, access token, ID token)
    lifetime: float

    @classmethod
    def of(cls, keys: Iterable[SigningKey], lifetime: float) -> KeySet:
        return cls(tuple(sorted(keys, key=lambda k: (k.signs_from, k.created_at, k.kid))), lifetime)

    def signer(self, now: float) -> SigningKey | None:
        """The key that signs at ``now``: the one that began signing last."""
        started = [key for key in self.keys if key.signs_from <= now]
        return started[-1] if started else None

    def retired_at(self, key: SigningKey) -> float | None:
        """When the next key takes over from ``key`` (None: none does yet)."""
        later = [other.signs_from for other in self.keys if other.signs_from > key.signs_from]
        return min(later) if later else None

    def published_until(self, key: SigningKey) -> float:
        """Until when ``key`` is published and accepted: what it signed has expired by then."""
        retired = self.retired_at(key)
        return math.inf if retired is None else retired + self.lifetime + CLOCK_SKEW

    def state(self, key: SigningKey, now: float) -> str:
        """``pending``, ``signing``, ``retired`` (published for what it signed) or ``expired``."""
        if key.signs_from > now:
            return "pending"
        if self.signer(now) is key:
            return "signing"
        return "retired" if now < self.published_until(key) else "expired"

    def published(self, now: float) -> list[SigningKey]:
        return [key for key in self.keys if now < self.published_until(key)]

    def jwks(self, now: float) -> dict[str, Any]:
        """The public JWK Set: every published key (pending ones too, so they are known before they sign)."""
        return {"keys": [key.public_jwk() for key in self.published(now)]}

    def verifier(self, now: float) -> JoseKeySet:
        return JoseKeySet([key.key for key in self.published(now)])
