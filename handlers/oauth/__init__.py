"""The OpenID provider's thin handlers and their routes."""

from __future__ import annotations

from tornado.routing import URLSpec
from tornado.web import url

from handlers.oauth.discovery import DiscoveryHandler, JwksHandler
from oidc import endpoints
from oidc.provider import Provider


def oauth_routes(provider: Provider) -> list[URLSpec]:
    """Every route of the provider."""
    given = dict(provider=provider)
    return [
        url(endpoints.DISCOVERY, DiscoveryHandler, given),
        url(endpoints.JWKS, JwksHandler, given),
        url(endpoints.JWKS_WELL_KNOWN, JwksHandler, given),
    ]


__all__ = ["oauth_routes"]
