"""Step 4: the authorization-code flow only (no implicit or hybrid), its answer in the query."""

from __future__ import annotations

from oidc.authorize.request import Parameters
from oidc.errors import InvalidRequest, UnsupportedResponseType


def check_response_type(params: Parameters) -> None:
    response_type = params.get("response_type")
    if not response_type:
        raise InvalidRequest("The response_type parameter is missing.")
    if response_type != "code":
        raise UnsupportedResponseType()
    if params.get("response_mode") not in ("", "query"):
        raise InvalidRequest("Only response_mode=query is supported.")
