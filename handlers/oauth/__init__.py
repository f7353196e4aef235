"""The OpenID provider's thin handlers and their routes."""

from __future__ import annotations

from tornado.routing import URLSpec
from tornado.web import url

from handlers.branding import Branding, Logo
from handlers.oauth.authorize import (
    AuthorizeCompleteHandler,
    AuthorizeHandler,
    AuthorizePhonePageHandler,
    AuthorizeSessionHandler,
)
from handlers.oauth.discovery import DiscoveryHandler, JwksHandler
from handlers.oauth.introspection import IntrospectionHandler
from handlers.oauth.revocation import RevocationHandler
from handlers.oauth.token import TokenEndpointHandler
from handlers.oauth.userinfo import UserInfoHandler
from handlers.page_cache import PageCache
from oidc import endpoints
from oidc.provider import Provider
from redis_map import SessionStore


def oauth_routes(
    provider: Provider,
    *,
    store: SessionStore,
    public_url: str | None,
    demo: bool,
    idle_codes: int,
    branding: Branding,
) -> list[URLSpec]:
    """Every route of the provider, the phone page's among them: mount them before the pages'."""
    given = dict(provider=provider)
    logo = Logo.load(branding.logo_path) if branding.logo_path is not None else None
    look = dict(branding=branding, logo=logo)
    return [
        url(endpoints.DISCOVERY, DiscoveryHandler, given),
        url(endpoints.JWKS, JwksHandler, given),
        url(endpoints.JWKS_WELL_KNOWN, JwksHandler, given),
        url(endpoints.AUTHORIZE, AuthorizeHandler, dict(given, idle_codes=idle_codes, pages=PageCache(), **look)),
        url(endpoints.AUTHORIZE_SESSION, AuthorizeSessionHandler, dict(given, public_url=public_url)),
        url(endpoints.AUTHORIZE_COMPLETE, AuthorizeCompleteHandler, given),
        url(endpoints.TOKEN, TokenEndpointHandler, given),
        url(endpoints.USERINFO, UserInfoHandler, given),
        url(endpoints.REVOCATION, RevocationHandler, given),
        url(endpoints.INTROSPECTION, IntrospectionHandler, given),
        url(r"/s/([0-9a-f]{32})", AuthorizePhonePageHandler, dict(given, store=store, demo=demo, **look)),
    ]


__all__ = ["oauth_routes"]
