"""The body of a token, revocation or introspection request: a form (RFC 6749 §3.2), each parameter once."""

from __future__ import annotations

from urllib.parse import parse_qsl

from oidc.errors import InvalidRequest

#: longest value read from a form; codes and tokens are under 100 characters, JWTs under 2 KiB
MAX_VALUE = 4096


class Form:
    """The parameters of an ``application/x-www-form-urlencoded`` body."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    @classmethod
    def parse(cls, content_type: str, body: bytes) -> Form:
        """The form ``body`` holds; InvalidRequest if it is not one, or repeats a parameter."""
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise InvalidRequest("The body must be application/x-www-form-urlencoded.")
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body), errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("The body is not a well-formed form.") from None
        values: dict[str, str] = {}
        for name, value in pairs:
            if name in values:
                raise InvalidRequest(f"The parameter '{name}' is repeated.")
            if len(value) > MAX_VALUE or not value.isprintable():
                raise InvalidRequest(f"The parameter '{name}' is too long or holds characters that are not allowed.")
            values[name] = value
        return cls(values)

    def get(self, name: str) -> str:
        """The value ("" when absent or empty: RFC 6749 §3.1 treats both alike)."""
        return self._values.get(name, "")

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise InvalidRequest(f"The parameter '{name}' is missing.")
        return value
