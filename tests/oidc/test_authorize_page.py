"""The authorization request's login page: rendered once per language and site, the same bytes as a fresh
rendering; its language links keep the request."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from tornado.escape import utf8, xhtml_escape
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from handlers import make_app
from handlers.page_cache import PageCache
from tests.oidc.conftest import authorize, register
from tests.service import Instance

REQUEST_ID = re.compile(r'data-authorize="([^"]*)"')
LINK = re.compile(r'<a href="([^"]*)" lang="([^"]*)"')


def params(client_id: str, redirect_uri: str, state: str = "st-1", **extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile",
        "state": state,
        "nonce": "n-1",
        "code_challenge": "E9Melhoe2OwvFrEMTJguCQ4mgCfYz2uY5xmY6nH6dHQ",
        "code_challenge_method": "S256",
        **extra,
    }


def request_id(page: bytes) -> str:
    found = REQUEST_ID.search(page.decode())
    assert found is not None, page
    return found.group(1)


def links(page: bytes) -> dict[str, str]:
    """The language links: language tag -> href, unescaped."""
    return {lang: html.unescape(href) for href, lang in LINK.findall(page.decode())}


@pytest.fixture
async def fresh(provider: Instance) -> AsyncIterator[str]:
    """The same services' application with templates not cached (as in debug): every page rendered afresh."""
    assert provider.services.provider is not None
    app = make_app(provider.services, compiled_template_cache=False)
    sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)[0]
    server = HTTPServer(app)
    server.add_sockets([sock])
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.stop()
    await server.close_all_connections()


async def get(base: str, path: str, **headers: str) -> Any:
    client = AsyncHTTPClient()
    return await client.fetch(HTTPRequest(base + path, headers=headers, follow_redirects=False), raise_error=False)


async def test_the_kept_page_is_the_fresh_rendering_for_every_site_and_language(provider: Instance, fresh: str) -> None:
    sites = [
        await register(provider, name="Acme", redirect_uris=["https://rp.example/callback"]),
        # What autoescape must escape, in the name and the host shown.
        await register(provider, name='Tom & Jerry\'s <b>"Shop"</b>', redirect_uris=["https://a.example:8443/cb"]),
        await register(provider, name="张伟的店", redirect_uris=["http://127.0.0.1:9000/back"]),
    ]
    asks = [{"Accept-Language": "en"}, {"Accept-Language": "zh-CN"}, {"Accept-Language": "zh-TW"}]
    seen = 0
    for client, _ in sites:
        for lang in ("", "zh_TW", "en_US"):
            for headers in asks:
                query = urlencode(params(client.client_id, client.redirect_uris[0], **({"lang": lang} if lang else {})))
                kept = await get(provider.base_url, "/authorize?" + query, **headers)
                again = await get(provider.base_url, "/authorize?" + query, **headers)
                afresh = await get(fresh, "/authorize?" + query, **headers)
                assert kept.code == again.code == afresh.code == 200, kept.body
                kept_id, again_id, fresh_id = request_id(kept.body), request_id(again.body), request_id(afresh.body)
                assert len({kept_id, again_id, fresh_id}) == 3
                assert kept.body == afresh.body.replace(fresh_id.encode(), kept_id.encode())
                assert again.body == afresh.body.replace(fresh_id.encode(), again_id.encode())
                seen += 1
    assert seen == 27
    # The name is shown as autoescape writes it, never raw.
    page = (
        await get(
            provider.base_url, "/authorize?" + urlencode(params(sites[1][0].client_id, "https://a.example:8443/cb"))
        )
    ).body
    assert b"Tom &amp; Jerry&#x27;s &lt;b&gt;&quot;Shop&quot;&lt;/b&gt;" in page and b"<b>" not in page


async def test_two_requests_get_their_own_id_and_links_in_one_kept_page(provider: Instance) -> None:
    client, _ = await register(provider)
    first = await authorize(provider, params(client.client_id, client.redirect_uris[0], state="first<&>"))
    second = await authorize(provider, params(client.client_id, client.redirect_uris[0], state="second"))
    assert first.code == second.code == 200
    first_id, second_id = request_id(first.body), request_id(second.body)
    assert first_id != second_id
    first_links, second_links = links(first.body), links(second.body)
    assert all(dict(parse_qsl(urlsplit(href).query))["state"] == "first<&>" for href in first_links.values())
    assert all(dict(parse_qsl(urlsplit(href).query))["state"] == "second" for href in second_links.values())
    # Everything else is the same page.
    first_rest = first.body.replace(first_id.encode(), b"ID")
    second_rest = second.body.replace(second_id.encode(), b"ID")
    for href in first_links.values():
        first_rest = first_rest.replace(utf8(xhtml_escape(href)), b"HREF")
    for href in second_links.values():
        second_rest = second_rest.replace(utf8(xhtml_escape(href)), b"HREF")
    assert first_rest == second_rest


async def test_a_language_link_on_the_authorize_page_shows_the_login_in_that_language(provider: Instance) -> None:
    client, _ = await register(provider)
    asked = params(client.client_id, client.redirect_uris[0], state="s-9")
    page = await authorize(provider, {**asked, "lang": "en_US"})
    assert page.code == 200
    chinese = links(page.body)["zh-CN"]
    # Only lang is replaced: every parameter of the request is kept, once.
    assert sorted(parse_qsl(urlsplit(chinese).query)) == sorted({**asked, "lang": "zh_CN"}.items())
    answer = await get(provider.base_url, "/authorize" + chinese, **{"Accept-Language": "en"})
    assert answer.code == 200, answer.body
    assert b'<html lang="zh-CN">' in answer.body and b"data-authorize=" in answer.body


async def test_a_language_link_on_the_login_page_keeps_its_query(provider: Instance) -> None:
    page = await get(provider.base_url, "/?next=a%26b&lang=zh_TW")
    assert page.code == 200
    assert links(page.body)["en-US"] == "?next=a%26b&lang=en_US"
    plain = await get(provider.base_url, "/")
    assert links(plain.body)["zh-TW"] == "?lang=zh_TW"


def test_a_template_that_changes_a_per_request_value_is_refused() -> None:
    pages = PageCache()
    with pytest.raises(ValueError, match="request_id"):
        pages.page("k", {"request_id": "x"}, lambda values: f"<p>{values['request_id'].upper()}</p>".encode())


def test_a_value_is_put_in_as_autoescape_writes_it() -> None:
    pages = PageCache()

    def render(values: Any) -> bytes:
        return f'<p data-x="{xhtml_escape(values["v"])}">{xhtml_escape(values["v"])}</p>'.encode()

    for value in ("plain", "<a href='x'>&amp;\"</a>", "张伟"):
        assert pages.page("k", {"v": value}, render) == render({"v": value})
    assert len(pages) == 1
