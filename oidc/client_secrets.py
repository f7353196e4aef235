"""Client secrets as stored: HMAC-SHA256 under the server's pepper, kept outside Redis, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

#: the hash scheme of stored secrets, first in each stored hash (a future scheme gets a new name)
HASH_SCHEME = "hmac-sha256"


@dataclass(frozen=True)
class SecretHasher:
    """HMAC-SHA256 of client secrets under the server's pepper (``--client-secret-pepper``; may be empty)."""

    pepper: str = field(default="", repr=False)

    @property
    def pepper_id(self) -> str:
        """Which pepper hashed a secret (8 hex digits of a hash of it), so a changed pepper is named, not guessed."""
        return hashlib.sha256(b"qrlogin client-secret pepper\x00" + self.pepper.encode()).hexdigest()[:8]

    def hash(self, secret: str) -> str:
        digest = hmac.new(self.pepper.encode(), secret.encode(), hashlib.sha256).hexdigest()
        return f"{HASH_SCHEME}${self.pepper_id}${digest}"

    def matches(self, secret: str, stored: str) -> bool:
        """Whether ``secret`` is the one ``stored`` hashes; compared in constant time."""
        return hmac.compare_digest(self.hash(secret).encode(), stored.encode())

    def hashed_with_another_pepper(self, stored: str) -> bool:
        scheme, _, rest = stored.partition("$")
        return scheme == HASH_SCHEME and rest.partition("$")[0] != self.pepper_id
