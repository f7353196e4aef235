"""Scopes: what a client may ask for, and what each unlocks."""

from __future__ import annotations

import re

from oidc.errors import InvalidRequest, InvalidScope

#: ``openid``: an ID token, and ``sub`` at UserInfo; ``profile``: ``name`` and ``picture`` too
SUPPORTED_SCOPES = frozenset({"openid", "profile"})
#: RFC 6749 §3.3: a scope token is printable ASCII without space, '"' or '\'
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
#: longest scope parameter read
MAX_SCOPE = 1000


def parse_scope(text: str) -> frozenset[str]:
    """The scope tokens of a ``scope`` parameter (space-separated); InvalidRequest if malformed."""
    if len(text) > MAX_SCOPE:
        raise InvalidRequest("The scope parameter is too long.")
    tokens = [token for token in text.split(" ") if token]
    if any(not SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise InvalidRequest("The scope parameter is malformed.")
    return frozenset(tokens)


def granted(asked: frozenset[str], allowed: frozenset[str]) -> frozenset[str]:
    """The scopes granted for ``asked`` of a client allowed ``allowed``; InvalidScope for any other."""
    refused = asked - (allowed & SUPPORTED_SCOPES)
    if refused:
        raise InvalidScope(f"Scope not allowed for this client: {' '.join(sorted(refused))}.")
    return asked


def as_text(scopes: frozenset[str]) -> str:
    """Scopes as a ``scope`` value, in a stable order."""
    return " ".join(sorted(scopes))
