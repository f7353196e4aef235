"""The built-in demo identity provider: ``Bearer demo:<name>`` is user <name>.

For trying the service without an auth server.  Anyone can be anyone, so
main.py says so loudly whenever it runs in this mode.

A name outside plain ASCII (张伟) cannot travel as it is: browsers send only
Latin-1 in headers, and a Bearer token is RFC 6750's token68.  Such a name
goes as ``Bearer demo64:<base64url of its UTF-8, unpadded>``, which is token68;
``demo:alice`` stays as it was for curl and the README.
"""

from __future__ import annotations

import base64
import binascii
import re

from login.errors import CredentialRejected
from login.models import Identity

#: a demo name, however it travelled: letters of any script, digits, space and ". @ _ -"
DEMO_NAME = re.compile(r"[\w .@-]{1,64}")
#: the plain form: "demo:" and the name as it is (the API's Bearer pattern lets only token68 names through)
DEMO_TOKEN = re.compile(r"demo:([\w .@-]{1,64})")
#: a name that can travel in the plain form: token68 characters only
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
#: the encoded form: "demo64:" and the base64url (unpadded) of the name's UTF-8; 64 characters fit
DEMO64_TOKEN = re.compile(r"demo64:([A-Za-z0-9_-]{1,344})")
#: what the error says a demo credential looks like
USAGE = "Demo mode accepts only 'Bearer demo:<name>' or 'Bearer demo64:<base64url of the name>'."


def encode_demo_token(name: str) -> str:
    """The demo credential (without "Bearer ") for ``name``: the plain form when it fits, else demo64."""
    if PLAIN_NAME.fullmatch(name):
        return f"demo:{name}"
    return "demo64:" + base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _name(token: str) -> str | None:
    plain = DEMO_TOKEN.fullmatch(token)
    if plain is not None:
        return plain.group(1)
    encoded = DEMO64_TOKEN.fullmatch(token)
    if encoded is None:
        return None
    text = encoded.group(1)
    try:
        # Strict UTF-8 also refuses lone surrogates, which Redis could not store.
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


class DemoAuthenticator:
    """Accepts any ``Bearer demo:<name>`` or ``Bearer demo64:<encoded name>`` credential, without a network call."""

    async def identify(self, authorization: str) -> Identity:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            raise CredentialRejected(USAGE)
        name = _name(token.strip())
        if name is None or not DEMO_NAME.fullmatch(name) or not name.strip():
            raise CredentialRejected(USAGE)
        name = name.strip()
        return Identity(sub=f"demo:{name}", name=name)

    def close(self) -> None:
        """Nothing to release; present to match UserInfoClient."""
