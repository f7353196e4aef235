"""Domain errors of the login flow, one class per outcome.

Each class carries its wire code (``error``) and the HTTP status it maps to;
the mapping to an HTTP answer happens in one place, ``handlers.base``.  The
data layer raises these and knows nothing else of HTTP.
"""

from __future__ import annotations

import math


class LoginError(Exception):
    """Base of every error a client can cause or be told about."""

    #: the machine-readable code sent as ``{"error": ...}``
    error = "login_error"
    #: the HTTP status of the answer
    status_code = 400
    #: the human-readable default message
    description = "The request could not be served."
    #: seconds the client should wait before trying again (sent as Retry-After), if any
    retry_after: int | None = None

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.description)
        self.message = message or self.description


# -- malformed requests ------------------------------------------------------


class InvalidJSON(LoginError):
    error = "invalid_json"
    description = "The request body is not a JSON object."


class InvalidRequest(LoginError):
    error = "invalid_request"
    description = "A field is missing or has the wrong type."


class BodyTooLarge(LoginError):
    error = "body_too_large"
    status_code = 413
    description = "The request body is too large."


class HeadersTooLarge(LoginError):
    error = "headers_too_large"
    status_code = 431
    description = "The request's headers are too large."


class OriginNotAllowed(LoginError):
    error = "origin_not_allowed"
    status_code = 403
    description = "Cross-origin requests are not allowed from this origin."


class NotFound(LoginError):
    error = "not_found"
    status_code = 404
    description = "No such resource."


class MethodNotAllowed(LoginError):
    error = "method_not_allowed"
    status_code = 405
    description = "This method is not allowed here."


# -- the session's state -------------------------------------------------------


class SessionNotFound(LoginError):
    error = "session_not_found"
    status_code = 404
    description = "The login session is unknown or has expired."


class InvalidTransition(LoginError):
    error = "invalid_state"
    status_code = 409
    description = "The login session's state does not allow this action."


class UserMismatch(LoginError):
    error = "user_mismatch"
    status_code = 409
    description = "The login session was scanned by another user."


class NotScanned(LoginError):
    error = "not_scanned"
    status_code = 409
    description = "Scan the login session first: the app must show who asks before confirming."


class InvalidGrant(LoginError):
    error = "invalid_grant"
    status_code = 400
    description = "The code is invalid, expired or already used."


# -- the app's credential ------------------------------------------------------


class MissingCredential(LoginError):
    error = "missing_credential"
    status_code = 401
    description = "An 'Authorization: Bearer <token>' credential is required."


class CredentialRejected(LoginError):
    error = "invalid_token"
    status_code = 401
    description = "The auth server rejected the credential."


class AuthUnavailable(LoginError):
    error = "auth_unavailable"
    status_code = 502
    description = "The auth server failed to answer properly."


class AuthTimeout(LoginError):
    error = "auth_timeout"
    status_code = 504
    description = "The auth server did not answer in time."


# -- abuse limits --------------------------------------------------------------


class RateLimited(LoginError):
    error = "rate_limited"
    status_code = 429
    description = "Too many requests; try again later."

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


# -- our own infrastructure ----------------------------------------------------


class StorageUnavailable(LoginError):
    error = "storage_unavailable"
    status_code = 503
    description = "The session store is unreachable; try again shortly."


class StorageFull(StorageUnavailable):
    """Redis is out of memory (``maxmemory`` with ``noeviction``) and refuses every change."""

    error = "storage_full"
    description = "The session store is full and refuses changes; try again shortly."


class StorageReadOnly(StorageUnavailable):
    """Redis refuses writes: a read-only replica, or writes stopped (persistence failing, too few replicas)."""

    error = "storage_read_only"
    description = "The session store refuses changes right now; try again shortly."


class OutcomeUnknown(StorageUnavailable):
    """A change was sent but its answer lost (Redis or the way to it stalled): it may or may not be made."""

    error = "outcome_unknown"
    description = (
        "The change may or may not have been made: its answer was lost on the way back. "
        "Retry the same request: a retry is safe and answers as the first would have."
    )


class InternalError(LoginError):
    error = "internal_error"
    status_code = 500
    description = "An unexpected error occurred."
