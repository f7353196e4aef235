"""The authorization request as a pipeline of guard steps, one concern per file (after node-oidc-provider).

Each step passes or raises the one OAuth error it owns.  The first two (the
client, then the exact redirect URI) fail on a page of ours: until both are
known good, nothing may redirect anywhere.  Every later failure goes back to
the redirect URI as ``error=…&state=…&iss=…`` (``RedirectedError``).
"""

from __future__ import annotations

from oidc.authorize.check_client import UnknownClientId, check_client
from oidc.authorize.check_parameters import check_parameters
from oidc.authorize.check_pkce import check_pkce
from oidc.authorize.check_prompt import check_prompt
from oidc.authorize.check_redirect_uri import UnregisteredRedirectUri, check_redirect_uri
from oidc.authorize.check_response_type import check_response_type
from oidc.authorize.check_scope import check_scope
from oidc.authorize.request import MAX_STATE, AuthorizationRequest, Parameters
from oidc.clients import ClientRegistry
from oidc.errors import OAuthError


class RedirectedError(Exception):
    """An error to send back to the client's (checked) redirect URI."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str) -> None:
        super().__init__(error.error)
        self.error = error
        self.redirect_uri = redirect_uri
        self.state = state


async def validate(params: Parameters, clients: ClientRegistry) -> AuthorizationRequest:
    """The checked request; an OAuthError (for our page) or a RedirectedError (for the client)."""
    client = await check_client(params, clients)
    redirect_uri = check_redirect_uri(params, client)
    try:
        state = params.get("state")
    except OAuthError:
        state = ""
    if len(state) > MAX_STATE:
        state = ""  # a repeated or oversized state is not echoed back
    try:
        state, nonce = check_parameters(params)
        check_response_type(params)
        scope = check_scope(params, client)
        code_challenge = check_pkce(params, client)
        check_prompt(params)
    except OAuthError as exc:
        raise RedirectedError(exc, redirect_uri, state) from exc
    return AuthorizationRequest(
        client_id=client.client_id,
        client_name=client.name,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        nonce=nonce,
        code_challenge=code_challenge,
    )


__all__ = [
    "AuthorizationRequest",
    "Parameters",
    "RedirectedError",
    "UnknownClientId",
    "UnregisteredRedirectUri",
    "validate",
]
