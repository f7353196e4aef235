"""The OAuth 2.0 / OpenID Connect errors, one class per wire code.

Each class carries its wire code (``error``, RFC 6749 §4.1.2.1 and §5.2, RFC
6750 §3.1, OpenID Connect Core §3.1.2.6) and the HTTP status it is answered
with; ``as_oauth_error`` turns the login flow's own errors (storage down, a
rate limit, a body too large) into the OAuth error a client understands.  The
handlers (``handlers.oauth.base``) write them; nothing here knows HTTP beyond
the status number.

They subclass ``LoginError`` so the service's request log and error logging
treat them as answers, not faults.
"""

from __future__ import annotations

from login.errors import (
    BodyTooLarge,
    InvalidJSON,
    LoginError,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    StorageUnavailable,
)
from login.errors import InvalidRequest as LoginInvalidRequest


class OAuthError(LoginError):
    """Base of every OAuth error: ``{"error": <code>, "error_description": <message>}``."""

    error = "server_error"
    status_code = 400
    description = "The request could not be served."
    #: the ``WWW-Authenticate`` challenge of a 401/403, if any
    challenge: str | None = None


# -- RFC 6749 §5.2: the token endpoint (and revocation, introspection) -----------------------


class InvalidRequest(OAuthError):
    error = "invalid_request"
    description = "The request is missing a parameter, repeats one, or is otherwise malformed."


class InvalidClient(OAuthError):
    """Client authentication failed: unknown client, no or wrong credentials, unsupported method."""

    error = "invalid_client"
    status_code = 401
    description = "Client authentication failed."
    challenge = 'Basic realm="qrlogin", charset="UTF-8"'


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    description = (
        "The authorization code or refresh token is invalid, expired, revoked or was issued to another client."
    )


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    description = "This client may not use this grant type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    description = "Only authorization_code and refresh_token are supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    description = "A requested scope is unknown or not allowed for this client."


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1: revocation of a token type we do not support."""

    error = "unsupported_token_type"
    description = "This token type cannot be revoked here."


# -- RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6: the authorization endpoint ---------


class AccessDenied(OAuthError):
    error = "access_denied"
    status_code = 403
    description = "The person denied the login."


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"
    description = "Only response_type=code is supported."


class LoginRequired(OAuthError):
    error = "login_required"
    description = "Every login here is a scan with the phone: prompt=none cannot be satisfied."


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500
    description = "An unexpected error occurred."


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503
    description = "The service is unavailable right now; try again shortly."


# -- RFC 6750 §3.1: a protected resource (UserInfo) -------------------------------------------


class InvalidToken(OAuthError):
    """The access token is missing its signature, expired, revoked, or not ours."""

    error = "invalid_token"
    status_code = 401
    description = "The access token is invalid, expired or revoked."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message)
        self.challenge = f'Bearer realm="qrlogin", error="invalid_token", error_description="{_quoted(self.message)}"'


class MissingToken(OAuthError):
    """RFC 6750 §3.1: no credential at all gets the bare challenge, without an error code in it."""

    error = "invalid_request"
    status_code = 401
    description = "An 'Authorization: Bearer <access token>' header is required."
    challenge = 'Bearer realm="qrlogin"'


class InsufficientScope(OAuthError):
    error = "insufficient_scope"
    status_code = 403
    description = "The access token does not carry the scope this resource needs."
    challenge = 'Bearer realm="qrlogin", error="insufficient_scope", scope="openid"'


def _quoted(text: str) -> str:
    """``text`` fit for a quoted-string in a challenge (RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E)."""
    return "".join(ch for ch in text if 0x20 <= ord(ch) <= 0x7E and ch not in '"\\')


# -- the one mapping of the service's own errors onto OAuth's ----------------------------------


def as_oauth_error(error: LoginError) -> OAuthError:
    """The OAuth error a client is answered with for ``error`` (an OAuthError is itself)."""
    if isinstance(error, OAuthError):
        return error
    mapped: OAuthError
    if isinstance(error, RateLimited):
        # RFC 6749 has no rate-limit code; temporarily_unavailable with 429 and Retry-After says it.
        mapped = TemporarilyUnavailable("Too many requests; try again later.")
        mapped.status_code = 429
        mapped.retry_after = error.retry_after
    elif isinstance(error, StorageUnavailable):
        mapped = TemporarilyUnavailable(error.message)
    elif isinstance(error, BodyTooLarge | NotFound | MethodNotAllowed):
        mapped = InvalidRequest(error.message)
        mapped.status_code = error.status_code
    elif isinstance(error, InvalidJSON | LoginInvalidRequest):
        mapped = InvalidRequest(error.message)
    elif error.status_code >= 500:
        mapped = ServerError()
    else:
        mapped = InvalidRequest(error.message)
        mapped.status_code = error.status_code
    return mapped
