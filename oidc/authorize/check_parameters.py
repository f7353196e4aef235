"""Step 3: no parameter repeated, none too long or not text; no request objects (we support none)."""

from __future__ import annotations

from oidc.authorize.request import MAX_STATE, Parameters
from oidc.errors import InvalidRequest, OAuthError


class RequestNotSupported(OAuthError):
    """OpenID Connect Core §3.1.2.6: the ``request`` parameter (a request object)."""

    error = "request_not_supported"
    description = "Request objects are not supported."


class RequestUriNotSupported(OAuthError):
    error = "request_uri_not_supported"
    description = "The request_uri parameter is not supported."


def check_parameters(params: Parameters) -> tuple[str, str]:
    """The state and nonce, checked."""
    repeated = params.repeated()
    if repeated:
        raise InvalidRequest(f"Parameters may not be repeated: {', '.join(repeated)}.")
    for name in params.names():
        params.get(name)  # InvalidRequest for a value too long, or with control characters
    if params.has("request"):
        raise RequestNotSupported()
    if params.has("request_uri"):
        raise RequestUriNotSupported()
    state, nonce = params.get("state"), params.get("nonce")
    for name, value in (("state", state), ("nonce", nonce)):
        if len(value) > MAX_STATE:
            raise InvalidRequest(f"The {name} parameter is longer than {MAX_STATE} characters.")
    return state, nonce
