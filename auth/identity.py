"""Reading an Identity out of an OpenID Connect UserInfo answer.

Whatever the auth server sends, this gives an Identity that can be stored and
shown, or None: a JSON string may hold a lone surrogate (``"\\ud800"``), which
no UTF-8 encoder (Redis, our answers) accepts, and a picture may be no URL.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from login.models import Identity

#: longest `sub` we accept (OIDC says at most 255 ASCII characters)
MAX_SUB = 255
#: longest display name we keep
MAX_NAME = 200
#: longest picture URL we keep
MAX_PICTURE = 2048

#: a lone surrogate: what JSON's "\ud800" escapes decode to when unpaired (paired ones combine)
_SURROGATE = re.compile("[\ud800-\udfff]")
#: what a lone surrogate in a shown name becomes, as a lenient UTF-8 decoder would show it
REPLACEMENT = "\ufffd"


def identity_from_claims(claims: Any) -> Identity | None:
    """The user described by UserInfo ``claims``, or None if they name nobody."""
    if not isinstance(claims, dict):
        return None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > MAX_SUB:
        return None
    if _SURROGATE.search(sub):
        return None  # an identifier is exact or nothing: no repairing it into someone else's
    name = ""
    for claim in ("name", "preferred_username", "nickname", "email"):
        value = claims.get(claim)
        if isinstance(value, str) and value.strip():
            # Only shown: a broken character is shown as one rather than losing the name.
            name = _SURROGATE.sub(REPLACEMENT, value.strip()[:MAX_NAME])
            break
    return Identity(sub=sub, name=name, picture=_safe_picture(claims.get("picture")))


def _safe_picture(value: Any) -> str:
    """Keep only an absolute http(s) URL: the pages put it in an <img src>."""
    if not isinstance(value, str) or len(value) > MAX_PICTURE or _SURROGATE.search(value):
        return ""
    try:
        scheme = urlsplit(value).scheme
    except ValueError:  # "http://[::1": not a URL at all
        return ""
    if scheme not in ("http", "https"):
        return ""
    return value
