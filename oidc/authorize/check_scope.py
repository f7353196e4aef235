"""Step 5: the scopes are known and allowed to this client (none asked: ``openid``)."""

from __future__ import annotations

from oidc.authorize.request import Parameters
from oidc.clients import Client
from oidc.scopes import as_text, granted, parse_scope

#: what a request asking for no scope gets (RFC 6749 §3.3 lets the server pick a default)
DEFAULT_SCOPE = frozenset({"openid"})


def check_scope(params: Parameters, client: Client) -> str:
    asked = parse_scope(params.get("scope")) or DEFAULT_SCOPE
    return as_text(granted(asked, client.scopes))
