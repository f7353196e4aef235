"""The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414): what a client reads to find everything else."""

from __future__ import annotations

from typing import Any

from oidc import endpoints
from oidc.keys import ALGORITHM


def metadata(issuer: str) -> dict[str, Any]:
    """The discovery document of the provider whose issuer URL is ``issuer``."""
    return {
        "issuer": issuer,
        "jwks_uri": issuer + endpoints.JWKS,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
    }
