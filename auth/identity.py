"""Reading an Identity out of an OpenID Connect UserInfo answer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from login.models import Identity

#: longest `sub` we accept (OIDC says at most 255 ASCII characters)
MAX_SUB = 255
#: longest display name we keep
MAX_NAME = 200
#: longest picture URL we keep
MAX_PICTURE = 2048


def identity_from_claims(claims: Any) -> Identity | None:
    """The user described by UserInfo ``claims``, or None if they name nobody."""
    if not isinstance(claims, dict):
        return None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB:
        return None
    name = ""
    for claim in ("name", "preferred_username", "nickname", "email"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            name = value.strip()[:MAX_NAME]
            break
    return Identity(sub=sub, name=name, picture=_safe_picture(claims.get("picture")))


def _safe_picture(value: Any) -> str:
    """Keep only an absolute http(s) URL: the pages put it in an <img src>."""
    if not isinstance(value, str) or len(value) > MAX_PICTURE:
        return ""
    if urlsplit(value).scheme not in ("http", "https"):
        return ""
    return value
