"""Step 6: PKCE (RFC 7636): S256 only; required of public clients, accepted from every client.

``plain`` is refused: it protects nothing against an attacker who can read the
authorization request, and RFC 9700 §2.1.1 says to use S256.
"""

from __future__ import annotations

import re

from oidc.authorize.request import Parameters
from oidc.clients import Client
from oidc.errors import InvalidRequest

#: an S256 challenge: base64url of a SHA-256, unpadded (43 characters)
CHALLENGE_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


def check_pkce(params: Parameters, client: Client) -> str:
    """The code challenge ("" when none was sent by a confidential client)."""
    challenge, method = params.get("code_challenge"), params.get("code_challenge_method")
    if not challenge:
        if method:
            raise InvalidRequest("code_challenge_method was sent without a code_challenge.")
        if client.public:
            raise InvalidRequest("A public client must use PKCE: send code_challenge with code_challenge_method=S256.")
        return ""
    if method != "S256":
        raise InvalidRequest("Only code_challenge_method=S256 is supported (send it explicitly).")
    if not CHALLENGE_PATTERN.fullmatch(challenge):
        raise InvalidRequest("The code_challenge must be the base64url SHA-256 of the code_verifier (43 characters).")
    return challenge
