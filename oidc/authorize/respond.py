"""Where the browser is sent back: the redirect URI with the code or the error, the state, and the issuer."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from oidc.errors import OAuthError


def redirect_to(redirect_uri: str, answer: dict[str, str], *, state: str, issuer: str) -> str:
    """``redirect_uri`` with ``answer``, ``state`` (when sent) and ``iss`` (RFC 9207) added to its query.

    A query the client registered in the URI is kept (RFC 6749 §3.1.2).
    """
    parts = urlsplit(redirect_uri)
    added = dict(answer)
    if state:
        added["state"] = state
    added["iss"] = issuer
    query = f"{parts.query}&{urlencode(added)}" if parts.query else urlencode(added)
    return urlunsplit(parts._replace(query=query))


def error_answer(error: OAuthError) -> dict[str, str]:
    return {"error": error.error, "error_description": error.message}
