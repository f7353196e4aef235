"""Step 1: the client is one we know.  Until it and the redirect URI are checked, no error may redirect."""

from __future__ import annotations

from oidc.authorize.request import Parameters
from oidc.clients import Client, ClientRegistry
from oidc.errors import InvalidRequest


class UnknownClientId(InvalidRequest):
    description = "The client_id is missing or not registered here."


async def check_client(params: Parameters, clients: ClientRegistry) -> Client:
    client_id = params.get("client_id")
    if not client_id:
        raise UnknownClientId("The client_id parameter is missing.")
    client = await clients.find(client_id)
    if client is None:
        raise UnknownClientId()
    return client
