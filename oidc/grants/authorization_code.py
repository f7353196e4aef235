"""``grant_type=authorization_code``: a code, once, for an access token, a refresh token and an ID token.

Guard steps in the order Authlib's ``AuthorizationCodeGrant`` takes them
(the client is authenticated before this is reached): the code, the redirect
URI, the PKCE verifier; then one script redeems the code if it is bound to
this client, redirect URI and challenge, unexpired and unused.  A second use
of a code is refused and revokes its grant, and with it everything the first
use issued (RFC 6749 §4.1.2 and §10.5).
"""

from __future__ import annotations

import re
import time
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from oidc.clients import Client
from oidc.errors import InvalidGrant, InvalidRequest
from oidc.events import Event
from oidc.grant import Grant, new_token, parse_token, token_hash
from oidc.grants.context import GrantContext, GrantStore
from oidc.grants.form import Form
from redis_map.provider_limits import TokenCount

#: RFC 7636 §4.1: a code verifier is 43 to 128 unreserved characters
VERIFIER_PATTERN = re.compile(r"[A-Za-z0-9._~-]{43,128}")

#: what each refusal of the redeeming script tells the client
_REFUSALS = {
    "unknown": "The authorization code is invalid.",
    "expired": "The authorization code has expired.",
    "wrong_client": "The authorization code was issued to another client.",
    "wrong_redirect_uri": "The redirect_uri does not match the one of the authorization request.",
    "pkce_missing": "The code_verifier is missing.",
    "pkce_mismatch": "The code_verifier does not match the code_challenge.",
    "pkce_unexpected": "A code_verifier was sent for an authorization request without a code_challenge.",
}


async def exchange_code(
    form: Form, client: Client, context: GrantContext, ip: str, count: TokenCount | None = None
) -> dict[str, Any]:
    code = form.require("code")
    grant_id = parse_token(code)
    if grant_id is None:
        raise InvalidGrant(_REFUSALS["unknown"])
    redirect_uri = form.require("redirect_uri")
    verifier = form.get("code_verifier")
    if verifier and not VERIFIER_PATTERN.fullmatch(verifier):
        raise InvalidRequest("The code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.")
    refresh_token = new_token(grant_id)
    store: GrantStore = context.grants
    changed = await store.redeem(
        grant_id,
        code_hash=token_hash(code),
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        challenge=create_s256_code_challenge(verifier) if verifier else "",
        now_ms=int(time.time() * 1000),
        refresh_hash=token_hash(refresh_token),
        grant_ttl_ms=int(context.refresh_ttl * 1000),
        retention_ms=int(context.retention * 1000),
        ip=ip,
        count=count,
    )
    if changed.outcome == "reused":
        if changed.detail == "revoked":
            await context.events.record(
                Event.CODE_REUSED, written=changed.audited, grant=grant_id, client=client.client_id, ip=ip
            )
        raise InvalidGrant("The authorization code was already used; what it issued is revoked.")
    if changed.outcome != "ok" or changed.fields is None:
        raise InvalidGrant(_REFUSALS.get(changed.outcome, _REFUSALS["unknown"]))
    grant = Grant.from_fields(grant_id, changed.fields)
    answer = context.answer(grant, grant.scope, refresh_token, first=True)
    context.events.token("authorization_code")
    await context.events.record(
        Event.TOKEN_ISSUED, written=changed.audited, grant=grant_id, client=client.client_id, user=grant.user.sub, ip=ip
    )
    return answer
