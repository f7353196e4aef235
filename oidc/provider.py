"""The OpenID provider's parts as one object, built by the composition root and handed to its handlers."""

from __future__ import annotations

from dataclasses import dataclass

from oidc.authorization import Authorizations
from oidc.clients import ClientRegistry
from oidc.grants import TokenEndpoint, TokenLimits
from oidc.introspection import Introspection
from oidc.keys import KeyRing
from oidc.revocation import Revocation
from oidc.userinfo import UserInfo


@dataclass(frozen=True)
class Provider:
    """What the provider's handlers are given."""

    #: the issuer URL; None: as each request reached the service (its Host checked)
    issuer: str | None
    #: the signing keys every instance shares
    keys: KeyRing
    #: the registered clients
    clients: ClientRegistry
    #: the authorization endpoint's flow
    authorizations: Authorizations
    token_endpoint: TokenEndpoint
    userinfo: UserInfo
    revocation: Revocation
    introspection: Introspection
    #: the abuse limits of the token, revocation and introspection endpoints
    limits: TokenLimits
