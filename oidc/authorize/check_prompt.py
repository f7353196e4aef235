"""Step 7: ``prompt`` (OpenID Connect Core §3.1.2.1).  Every login here is a scan, so ``none`` cannot be met."""

from __future__ import annotations

from oidc.authorize.request import Parameters
from oidc.errors import InvalidRequest, LoginRequired

#: the prompt values we accept; login, consent and select_account all happen anyway (a scan, a confirm)
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account"})


def check_prompt(params: Parameters) -> None:
    values = set(params.get("prompt").split())
    unknown = values - PROMPT_VALUES
    if unknown:
        raise InvalidRequest(f"Unknown prompt value: {' '.join(sorted(unknown))}.")
    if "none" in values:
        if len(values) > 1:
            raise InvalidRequest("prompt=none cannot be combined with other values.")
        raise LoginRequired()
    max_age = params.get("max_age")
    if max_age and not (max_age.isascii() and max_age.isdigit() and len(max_age) <= 10):
        raise InvalidRequest("max_age must be a number of seconds.")
