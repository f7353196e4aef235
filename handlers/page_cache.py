"""Pages rendered once for many requests, each request's own values put into the kept rendering.

A page whose template output depends on a few values that change per request
(an id, the page's query) and otherwise only on what many requests share (the
language, the client) is rendered once per `PageCache` key with a marker in
place of each per-request value; a request then gets the kept rendering with
its values in the markers' places, escaped as the template's autoescape
(Tornado's ``xhtml_escape``) writes a ``{{ value }}``: the same bytes as a
fresh rendering.  A per-request value must only appear in the template as a
plain ``{{ name }}`` (a template that transforms it would transform the
marker: the rendering is then refused, loudly).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from tornado.escape import utf8, xhtml_escape

from oidc.recent import Recent

#: renderings a cache keeps (a few KB each): the languages times the clients and their redirect hosts in use
PAGE_RENDERINGS = 512
#: seconds a rendering is kept: it never goes stale (its key names what it shows), this only lets unused ones go
PAGE_RENDERING_TTL = 3600.0


@dataclass(frozen=True, slots=True)
class Rendering:
    """A page cut at its per-request values: ``parts[0]``, value ``slots[0]``, ``parts[1]``, ..."""

    parts: tuple[bytes, ...]
    slots: tuple[str, ...]

    def fill(self, values: Mapping[str, str]) -> bytes:
        """The page with ``values`` escaped in their places."""
        escaped = {name: utf8(xhtml_escape(value)) for name, value in values.items()}
        out = [self.parts[0]]
        for name, part in zip(self.slots, self.parts[1:], strict=True):
            out.append(escaped[name])
            out.append(part)
        return b"".join(out)


class PageCache:
    """Renderings of one page, at most ``size``, kept per key."""

    def __init__(
        self, size: int = PAGE_RENDERINGS, ttl: float = PAGE_RENDERING_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._renderings: Recent[Hashable, Rendering] = Recent(size, clock)
        self._ttl = ttl
        # Random per process: no value shown on a page (a client's name, say) can spell a marker.
        self._mark = f"qrlogin-slot-{secrets.token_hex(8)}-"
        self._markers = re.compile(re.escape(self._mark.encode()) + rb"([a-z_]+)-")

    def page(self, key: Hashable, values: Mapping[str, str], render: Callable[[Mapping[str, str]], bytes]) -> bytes:
        """The page for ``key`` with this request's ``values``; ``render(values)`` renders it (once per key).

        ``key`` must name everything the page shows but ``values``.
        """
        rendering = self._renderings.get(key)
        if rendering is None:
            rendering = self._cut(render({name: f"{self._mark}{name}-" for name in values}), set(values))
            self._renderings.put(key, rendering, self._renderings.now() + self._ttl)
        return rendering.fill(values)

    def _cut(self, page: bytes, names: set[str]) -> Rendering:
        pieces = self._markers.split(page)
        parts, slots = tuple(pieces[::2]), tuple(piece.decode() for piece in pieces[1::2])
        if set(slots) != names:
            raise ValueError(f"the template does not show {sorted(names - set(slots))} as plain values")
        return Rendering(parts, slots)

    def __len__(self) -> int:
        return len(self._renderings)


__all__ = ["PAGE_RENDERINGS", "PageCache", "Rendering"]
