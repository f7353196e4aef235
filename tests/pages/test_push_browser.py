"""The PC page follows its session pushed: over a WebSocket, else Server-Sent Events, else long-polls.

A transport the network blocks is refused in front of the instance, as a proxy that cannot pass it
answers (a 502 to the WebSocket handshake or the stream's POST), so the page's own fallback runs.
Another site embedding the module is a second real server on loopback (another origin).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

pytest.importorskip("playwright", reason="playwright not installed: pip install -r requirements-dev.txt")

from playwright.async_api import Page, WebSocket, expect

from auth import DemoAuthenticator
from tests.conftest import MakeInstance
from tests.pages.conftest import NewPage, Snap, csp_violations, qr_loaded
from tests.service import Instance


class Refused(RequestHandler):
    """What a proxy that cannot pass a transport answers in its place."""

    def get(self) -> None:
        self.set_status(502)
        self.finish("this network does not pass it")

    post = get


class PartnerSite:
    """Another site: a real server on loopback (so another origin, and no private-network rules apply)."""

    def __init__(self) -> None:
        self.html = ""
        site = self

        class Page(RequestHandler):
            def get(self) -> None:
                self.finish(site.html)

        sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET)[0]
        self.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server = HTTPServer(Application([(r"/", Page)]))
        self.server.add_sockets([sock])


@pytest.fixture
async def partner() -> AsyncIterator[PartnerSite]:
    site = PartnerSite()
    yield site
    site.server.stop()
    await site.server.close_all_connections()


class PcPage:
    """The PC's login page, with what it sent: its WebSockets and its HTTP requests."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.sockets: list[WebSocket] = []
        self.sent: list[str] = []
        self.paths: list[str] = []
        self._frame = asyncio.Event()
        page.on("websocket", self._socket)
        page.on("request", lambda request: self.paths.append(request.url.split("/", 3)[3]))

    def _socket(self, socket: WebSocket) -> None:
        # Listening from the socket's creation on: its first frame leaves as soon as it opens.
        self.sockets.append(socket)
        socket.on("framesent", self._sent)

    def _sent(self, payload: str | bytes) -> None:
        self.sent.append(str(payload))
        self._frame.set()

    async def frames(self, count: int, timeout: float = 20) -> list[str]:
        """The frames sent once there are ``count`` of them."""
        while len(self.sent) < count:
            self._frame.clear()
            await asyncio.wait_for(self._frame.wait(), timeout)
        return self.sent


async def open_pc(
    new_page: NewPage, service: Instance, *, blocked: tuple[str, ...] = ()
) -> tuple[PcPage, dict[str, Any]]:
    """The login page once it shows a QR, with the URL patterns in ``blocked`` failing as a network would."""
    if blocked:
        service.service.app.add_handlers(r".*", [(path, Refused) for path in blocked])
    page = await new_page()
    pc = PcPage(page)
    async with page.expect_response("**/uuid") as created:
        await page.goto(service.base_url + "/")
    session: dict[str, Any] = await (await created.value).json()
    await expect(page.locator("#login")).to_have_attribute("data-state", "waiting")
    await qr_loaded(page)
    return pc, session


async def log_in_from_the_phone(service: Instance, pc: Page, session: dict[str, Any], snap: Snap, name: str) -> None:
    """The app scans and confirms (through the API); the PC page shows each step as it is pushed."""
    assert (await service.post("/scan", {"uuid": session["uuid"]}, user=f"demo:{name}")).code == 200
    await expect(pc.locator("#who")).to_have_text(f"Scanned by {name}")
    await expect(pc.locator("#login")).to_have_attribute("data-state", "scanned")
    await snap(pc, "1-pc-scanned")
    assert (await service.post("/confirm", {"uuid": session["uuid"]}, user=f"demo:{name}")).code == 200
    await expect(pc.locator("#login")).to_have_attribute("data-state", "logged-in")
    await expect(pc.locator("#who")).to_have_text(f"Logged in as {name}")
    await snap(pc, "2-pc-logged-in")
    token = await pc.evaluate("sessionStorage.getItem('qrlogin.token')")
    assert service.tokens.verify(token)["sub"] == f"demo:{name}"
    assert await csp_violations(pc) == []


async def demo_instance(make_instance: MakeInstance, **options: Any) -> Instance:
    return await make_instance(authenticator=DemoAuthenticator(), demo=True, **options)


async def test_the_pc_logs_in_over_a_websocket(make_instance: MakeInstance, new_page: NewPage, snap: Snap) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_pc(new_page, service)
    await expect(pc.page.locator("#login")).to_have_attribute("data-transport", "websocket")
    await log_in_from_the_phone(service, pc.page, session, snap, "wang")

    # One socket; the cursor went in its first message, never in a URL; no long-poll, no stream.
    assert [socket.url for socket in pc.sockets] == [service.base_url.replace("http", "ws", 1) + "/ws"]
    assert json.loads(pc.sent[0]) == {"cursor": session["cursor"], "status": 0}
    assert not [path for path in pc.paths if path.startswith(("wait", "events"))]
    assert not [path for path in pc.paths if session["cursor"] in path]


async def test_with_websockets_blocked_the_pc_falls_back_to_server_sent_events(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_pc(new_page, service, blocked=("/ws",))
    await expect(pc.page.locator("#login")).to_have_attribute("data-transport", "sse")
    await expect(pc.page.locator("#network")).to_be_hidden()  # a blocked transport is not a lost network
    await log_in_from_the_phone(service, pc.page, session, snap, "li")
    assert "events" in pc.paths and "wait" not in pc.paths


async def test_with_websockets_and_streams_blocked_the_pc_falls_back_to_long_polls(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_pc(new_page, service, blocked=("/ws", "/events"))
    # A long-poll shows it works with its first answer: here the scan.
    await log_in_from_the_phone(service, pc.page, session, snap, "zhao")
    await expect(pc.page.locator("#login")).to_have_attribute("data-transport", "poll")
    assert "wait" in pc.paths


async def test_the_socket_resumes_with_the_status_it_knows_after_the_network_comes_back(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap
) -> None:
    service = await demo_instance(make_instance)
    pc, session = await open_pc(new_page, service)
    assert (await service.post("/scan", {"uuid": session["uuid"]}, user="demo:sun")).code == 200
    await expect(pc.page.locator("#who")).to_have_text("Scanned by sun")

    await pc.page.context.set_offline(True)
    await expect(pc.page.locator("#network")).to_have_text("Connection lost. Retrying…")
    await snap(pc.page, "1-pc-offline")
    await pc.page.context.set_offline(False)
    await expect(pc.page.locator("#network")).to_be_hidden()
    await expect(pc.page.locator("#login")).to_have_attribute("data-transport", "websocket")
    # A second socket, which said it already knew "scanned".
    sent = await pc.frames(2)
    assert len(pc.sockets) == 2
    assert json.loads(sent[-1]) == {"cursor": session["cursor"], "status": 1}
    await expect(pc.page.locator("#login")).to_have_attribute("data-state", "scanned")

    assert (await service.post("/confirm", {"uuid": session["uuid"]}, user="demo:sun")).code == 200
    await expect(pc.page.locator("#login")).to_have_attribute("data-state", "logged-in")
    await snap(pc.page, "2-pc-logged-in")


EMBEDDING_PAGE = """<!DOCTYPE html>
<title>Partner</title>
<img id="qr" width="200" height="200" alt="Scan to log in">
<p id="state">loading</p>
<script type="module">
  import { newSession, renderQr, follow } from "%(service)s/static/qrlogin.js";
  const state = document.getElementById("state");
  const session = await newSession();
  renderQr(document.getElementById("qr"), session);
  window.uuid = session.uuid;
  const answer = await follow(session, {
    onTransport: (name) => (document.body.dataset.transport = name),
    onChange: (a) => (state.textContent = a.state),
  });
  state.textContent = answer.state + (answer.code ? " with a code" : "");
</script>
"""


async def test_another_site_embeds_the_module_with_cors_origins(
    make_instance: MakeInstance, new_page: NewPage, snap: Snap, partner: PartnerSite
) -> None:
    service = await demo_instance(make_instance, cors_origins=(partner.origin,))
    partner.html = EMBEDDING_PAGE % {"service": service.base_url}
    page = await new_page()
    await page.goto(f"{partner.origin}/")
    await expect(page.locator("body")).to_have_attribute("data-transport", "websocket")
    await page.wait_for_function("() => { const qr = document.getElementById('qr'); return qr.naturalWidth; }")
    uuid = await page.evaluate("window.uuid")
    assert (await service.approve(uuid, "demo:qian")).code == 200
    await expect(page.locator("#state")).to_have_text("confirmed with a code")
    await snap(page, "1-partner-confirmed")


HIJACKING_PAGE = """<!DOCTYPE html>
<title>Elsewhere</title>
<script type="module">
  const socket = new WebSocket("%(ws)s");
  socket.onopen = () => (document.body.dataset.socket = "open");
  socket.onclose = (event) => (document.body.dataset.socket = "closed " + event.code);
</script>
"""


@pytest.mark.parametrize(("allowed", "outcome"), [(False, "closed 1006"), (True, "open")])
async def test_a_page_on_another_site_opens_a_socket_only_if_its_origin_is_allowed(
    make_instance: MakeInstance, new_page: NewPage, partner: PartnerSite, allowed: bool, outcome: str
) -> None:
    service = await demo_instance(make_instance, cors_origins=(partner.origin,) if allowed else ())
    partner.html = HIJACKING_PAGE % {"ws": service.base_url.replace("http", "ws", 1) + "/ws"}
    page = await new_page()
    await page.goto(f"{partner.origin}/")
    # Refused at the handshake (403): the browser reports only an abnormal close.
    await expect(page.locator("body")).to_have_attribute("data-socket", outcome)
