"""``GET /.well-known/openid-configuration`` and the JWK Set (``/jwks.json``, ``/.well-known/jwks.json``).

Both are public documents: any origin may read them (a browser client finds
the provider and its keys this way), and caches may keep them briefly.
"""

from __future__ import annotations

from handlers.oauth.base import OAuthHandler
from oidc.discovery import metadata
from oidc.keys import JWKS_MAX_AGE

#: seconds a client may cache the discovery document
DISCOVERY_MAX_AGE = 3600


class PublicDocumentHandler(OAuthHandler):
    """A public, cacheable JSON document."""

    def public(self, max_age: int) -> None:
        self.set_header("Cache-Control", f"public, max-age={max_age}")
        self.set_header("Access-Control-Allow-Origin", "*")


class DiscoveryHandler(PublicDocumentHandler):
    def get(self) -> None:
        document = metadata(self.issuer())
        self.public(DISCOVERY_MAX_AGE)
        if self.provider.issuer is None:
            self.set_header("Vary", "Host")  # the issuer is the URL each request reached
        self.write_json(document)


class JwksHandler(PublicDocumentHandler):
    """Every published key: the one signing, any rotated in ahead, and retired ones whose tokens live on."""

    def get(self) -> None:
        keys = self.provider.keys
        self.public(JWKS_MAX_AGE)
        self.write_json(keys.keys.jwks(keys.clock()))
