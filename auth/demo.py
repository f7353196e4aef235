"""The built-in demo identity provider: ``Bearer demo:<name>`` is user <name>.

For trying the service without an auth server.  Anyone can be anyone, so
main.py says so loudly whenever it runs in this mode.
"""

from __future__ import annotations

import re

from login.errors import CredentialRejected
from login.models import Identity

#: what a demo credential looks like: "demo:" and a short name
DEMO_TOKEN = re.compile(r"demo:([\w .@-]{1,64})")


class DemoAuthenticator:
    """Accepts any ``Bearer demo:<name>`` credential, without a network call."""

    async def identify(self, authorization: str) -> Identity:
        scheme, _, token = authorization.partition(" ")
        match = DEMO_TOKEN.fullmatch(token.strip())
        if scheme.lower() != "bearer" or match is None:
            raise CredentialRejected("Demo mode accepts only 'Bearer demo:<name>'.")
        name = match.group(1).strip()
        if not name:
            raise CredentialRejected("Demo mode accepts only 'Bearer demo:<name>'.")
        return Identity(sub=f"demo:{name}", name=name)

    def close(self) -> None:
        """Nothing to release; present to match UserInfoClient."""
