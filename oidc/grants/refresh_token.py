"""``grant_type=refresh_token``: rotation on every use; a rotated token presented again revokes its family.

RFC 9700 §2.2.2: a refresh token of a public client must be sender-constrained
or rotated; every client's is rotated here.  A token used twice means two
parties hold it (a thief and the client), and the server cannot tell which
is which, so the whole grant is revoked: both must log in again.
"""

from __future__ import annotations

from typing import Any

from oidc.clients import Client
from oidc.errors import InvalidGrant, InvalidScope
from oidc.events import Event
from oidc.grant import Grant, new_token, parse_token, token_hash
from oidc.grants.context import GrantContext
from oidc.grants.form import Form
from oidc.scopes import as_text, parse_scope
from redis_map.provider_limits import TokenCount


async def refresh(
    form: Form, client: Client, context: GrantContext, ip: str, count: TokenCount | None = None
) -> dict[str, Any]:
    presented = form.require("refresh_token")
    grant_id = parse_token(presented)
    if grant_id is None:
        raise InvalidGrant("The refresh token is invalid.")
    narrowed = parse_scope(form.get("scope"))
    if narrowed:
        # RFC 6749 §6: a refresh may ask for less, never more; checked before the token is spent.
        fields, _ = await context.grants.read(grant_id)
        if fields and not narrowed <= frozenset(fields.get("scope", "").split()):
            raise InvalidScope("A refresh may not ask for scopes the login did not grant.")
    new_refresh = new_token(grant_id)
    changed = await context.grants.refresh(
        grant_id,
        presented_hash=token_hash(presented),
        new_hash=token_hash(new_refresh),
        client_id=client.client_id,
        retention_ms=int(context.retention * 1000),
        ip=ip,
        count=count,
    )
    if changed.outcome == "reused":
        if changed.detail == "revoked":
            await context.events.record(
                Event.REFRESH_REUSED, written=changed.audited, grant=grant_id, client=client.client_id, ip=ip
            )
        raise InvalidGrant("The refresh token was already used; its whole family is revoked.")
    if changed.outcome == "wrong_client":
        raise InvalidGrant("The refresh token was issued to another client.")
    if changed.outcome != "ok" or changed.fields is None:
        raise InvalidGrant("The refresh token is invalid, expired or revoked.")
    grant = Grant.from_fields(grant_id, changed.fields)
    scope = as_text(narrowed) if narrowed else grant.scope
    answer = context.answer(grant, scope, new_refresh, first=False)
    context.events.token("refresh_token")
    await context.events.record(
        Event.TOKEN_REFRESHED,
        written=changed.audited,
        grant=grant_id,
        client=client.client_id,
        user=grant.user.sub,
        ip=ip,
    )
    return answer
