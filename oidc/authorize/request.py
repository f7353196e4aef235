"""The authorization request: its parameters as sent, and as checked."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from oidc.errors import InvalidRequest

#: longest value of any parameter we read (a redirect URI is the longest legitimate one)
MAX_PARAMETER = 2048
#: longest state or nonce kept and sent back
MAX_STATE = 1024


class Parameters:
    """The request's parameters as sent (query or form), each possibly repeated."""

    def __init__(self, values: Mapping[str, Sequence[str]]) -> None:
        self._values = {name: list(items) for name, items in values.items()}

    def repeated(self) -> list[str]:
        """The parameters sent more than once (RFC 6749 §3.1: none may be)."""
        return sorted(name for name, items in self._values.items() if len(items) > 1)

    def get(self, name: str) -> str:
        """The parameter's value ("" when absent); InvalidRequest if repeated, too long or not text."""
        items = self._values.get(name, [])
        if len(items) > 1:
            raise InvalidRequest(f"The parameter '{name}' is repeated.")
        value = items[0] if items else ""
        if len(value) > MAX_PARAMETER:
            raise InvalidRequest(f"The parameter '{name}' is too long.")
        if not value.isprintable():
            raise InvalidRequest(f"The parameter '{name}' holds characters that are not allowed.")
        return value

    def names(self) -> list[str]:
        return sorted(self._values)

    def has(self, name: str) -> bool:
        return bool(self._values.get(name))


@dataclass(frozen=True)
class AuthorizationRequest:
    """A checked request: what the code will be bound to, and what goes back with it."""

    client_id: str
    #: the client's name and the redirect URI's host, for the pages
    client_name: str
    redirect_uri: str
    scope: str
    state: str = ""
    nonce: str = ""
    #: the PKCE challenge (S256), "" if the client sent none
    code_challenge: str = ""

    @property
    def redirect_host(self) -> str:
        """What the pages show of where the browser goes back: the host (or a native app's scheme)."""
        parts = urlsplit(self.redirect_uri)
        return parts.hostname or f"{parts.scheme}:"

    def record(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_record(cls, text: str) -> AuthorizationRequest:
        """The request a stored record holds; ValueError if it holds none."""
        try:
            data = json.loads(text)
            return cls(**{key: str(value) for key, value in data.items()})
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an authorization request record: {exc}") from exc
