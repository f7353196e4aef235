"""Where each endpoint of the provider is, as a path under the issuer URL (routes and discovery share these)."""

from __future__ import annotations

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/jwks.json"
#: the same JWK Set where some clients look for it by default
JWKS_WELL_KNOWN = "/.well-known/jwks.json"
AUTHORIZE = "/authorize"
#: the provider's login page's own calls: its QR, and where to go back once decided
AUTHORIZE_SESSION = "/authorize/session"
AUTHORIZE_COMPLETE = "/authorize/complete"
#: the token endpoint; ``/token`` is taken by the first-party code exchange
TOKEN = "/oauth/token"
USERINFO = "/userinfo"
REVOCATION = "/oauth/revoke"
INTROSPECTION = "/oauth/introspect"
