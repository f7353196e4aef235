"""The OpenID provider's parts as one object, built by the composition root and handed to its handlers."""

from __future__ import annotations

from dataclasses import dataclass

from oidc.authorization import Authorizations
from oidc.clients import ClientRegistry
from oidc.keys import KeyRing


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
