"""Step 2: the redirect URI is exactly one the client registered (RFC 9700 §2.1: exact string match)."""

from __future__ import annotations

from oidc.authorize.request import Parameters
from oidc.clients import Client
from oidc.errors import InvalidRequest


class UnregisteredRedirectUri(InvalidRequest):
    description = "The redirect_uri is missing or not one this client registered."


def check_redirect_uri(params: Parameters, client: Client) -> str:
    """The redirect URI; OpenID Connect requires it even when the client registered only one."""
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise UnregisteredRedirectUri("The redirect_uri parameter is missing.")
    if redirect_uri not in client.redirect_uris:
        raise UnregisteredRedirectUri()
    return redirect_uri
