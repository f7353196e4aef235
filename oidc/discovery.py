"""The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414): what a client reads to find everything else."""

from __future__ import annotations

from typing import Any

from oidc import endpoints
from oidc.grants import GRANT_TYPES
from oidc.key_set import ALGORITHM
from oidc.scopes import SUPPORTED_SCOPES

#: how clients may authenticate at the token, revocation and introspection endpoints
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]


def metadata(issuer: str) -> dict[str, Any]:
    """The discovery document of the provider whose issuer URL is ``issuer``."""
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + endpoints.AUTHORIZE,
        "token_endpoint": issuer + endpoints.TOKEN,
        "userinfo_endpoint": issuer + endpoints.USERINFO,
        "jwks_uri": issuer + endpoints.JWKS,
        "revocation_endpoint": issuer + endpoints.REVOCATION,
        "introspection_endpoint": issuer + endpoints.INTROSPECTION,
        "scopes_supported": sorted(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": sorted(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_supported": ["sub", "name", "picture", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
    }
