"""Who is calling: client authentication at the token, revocation and introspection endpoints.

``client_secret_basic`` (RFC 6749 §2.3.1: HTTP Basic, id and secret each
form-urlencoded), ``client_secret_post`` (both in the form) or ``none`` (a
public client: its ``client_id`` in the form, PKCE doing the rest).  A
request using more than one method is refused (§2.3).  Every failure is
``invalid_client`` (401, with a ``WWW-Authenticate`` challenge), and reads the
same whatever failed.
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol
from urllib.parse import unquote_plus

from oidc.clients import Client, ClientRegistry
from oidc.errors import InvalidClient, InvalidRequest
from oidc.grants.form import Form

#: longest Authorization header read
MAX_AUTHORIZATION = 1024


class SecretFailures(Protocol):
    """Slows repeated bad secrets: refused for a while once one IP has failed too often for one client."""

    async def check(self, ip: str, client_id: str, *, count_client: bool = False) -> None:
        """RateLimited if ``ip`` failed too often for ``client_id``; also counts the request against ``ip``
        and, with ``count_client`` (an authenticated token request), against the client."""
        ...

    async def failed(self, ip: str, client_id: str) -> None: ...


def _basic(header: str) -> tuple[str, str] | None:
    """The (id, secret) of a Basic Authorization header; None when there is none; InvalidClient if malformed."""
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("Only Basic client authentication is accepted in the Authorization header.")
    if len(header) > MAX_AUTHORIZATION:
        raise InvalidClient("The Authorization header is too long.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("The Basic credentials are malformed.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise InvalidClient("The Basic credentials are malformed.")
    return unquote_plus(client_id), unquote_plus(secret)


async def authenticate_client(
    form: Form,
    authorization: str,
    ip: str,
    clients: ClientRegistry,
    failures: SecretFailures,
    *,
    checked_here: bool = True,
) -> Client:
    """The calling client; InvalidClient (or InvalidRequest for two methods at once) if it is not known to be it.

    The limits are looked at once the secret is checked (against the client as read up to
    ``CLIENT_CACHE_TTL`` ago, mostly without Redis): a failed secret is counted, and refused past the limits,
    here; an authenticated request is counted against its IP here too, unless ``checked_here`` is False (the
    token endpoint, which counts it, and its client, in its grant's script).
    """
    basic = _basic(authorization)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None:
        if form_secret:
            raise InvalidRequest("Use one client authentication method: Basic or client_secret in the body.")
        if form_id and form_id != basic[0]:
            raise InvalidClient()
        client_id, secret = basic
    else:
        if not form_id:
            raise InvalidClient("Client authentication is required.")
        client_id, secret = form_id, form_secret
    try:
        client = await clients.authenticate(client_id, secret or None)
    except InvalidClient:
        await failures.check(ip, client_id)
        await failures.failed(ip, client_id)
        raise
    if checked_here:
        await failures.check(ip, client_id)
    return client
