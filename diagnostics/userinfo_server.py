"""A real OpenID Connect UserInfo server for the tests, on a loopback socket."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

#: bearer token -> the UserInfo claims the server answers with
USERS: dict[str, dict[str, Any]] = {
    "alice-token": {"sub": "alice", "name": "Alice", "picture": "https://img.example/alice.png"},
    "bob-token": {"sub": "bob", "name": "Bob", "email": "bob@example.com"},
}

#: a token with this prefix names a user of its own (``user-7`` is ``sub`` ``user-7``): many distinct users
NUMBERED_USER = "user-"

#: how deep the "deep-json" answer nests: past Python's parser's recursion limit, within the 64 KiB answer limit
DEEP_JSON_LEVELS = 30_000

#: bearer token -> a 200 answer's exact JSON text: what a careless or hostile auth server may send
RAW_ANSWERS: dict[str, str] = {
    "deep-json": '{"sub": ' + "[" * DEEP_JSON_LEVELS + "]" * DEEP_JSON_LEVELS + "}",
    # JSON allows a lone surrogate escape; Python decodes it to a str that UTF-8 cannot encode.
    "surrogate-sub": '{"sub": "\\ud800", "name": "Mallory"}',
    "surrogate-name": '{"sub": "carol", "name": "Car\\ud800ol"}',
    "surrogate-picture": '{"sub": "carol", "name": "Carol", "picture": "https://img.example/\\udfff.png"}',
    "bad-picture-url": '{"sub": "carol", "name": "Carol", "picture": "http://[::1/carol.png"}',
}


class UserInfoHandler(RequestHandler):
    def initialize(self, server: AuthServer) -> None:
        self.server = server

    async def get(self) -> None:
        self.server.calls += 1
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer":
            self.set_status(401)
            return
        if token == "forbidden":
            self.set_status(403)
        elif token == "broken":
            self.set_status(500)
        elif token == "not-json":
            self.write(b"<html>hello</html>")
        elif token == "no-sub":
            self.write({"name": "Nobody"})
        elif token == "huge":
            self.write({"sub": "alice", "name": "A" * 100_000})  # past the client's answer limit
        elif token == "held-alice":
            # Answers as alice only once the test releases it.
            self.server.held.set()
            await self.server.release.wait()
            self.set_header("Content-Type", "application/json")
            self.write(json.dumps(USERS["alice-token"]))
        elif token == "slow":
            # Never answers within the service's auth timeout.
            await self.server.release.wait()
        elif token in RAW_ANSWERS:
            self.set_header("Content-Type", "application/json")
            self.write(RAW_ANSWERS[token])
        elif token in USERS:
            self.set_header("Content-Type", "application/json")
            self.write(json.dumps(USERS[token]))
        elif token.startswith(NUMBERED_USER):
            self.set_header("Content-Type", "application/json")
            self.write(json.dumps({"sub": token, "name": token}))
        else:
            self.set_status(401)


class CountingHTTPServer(HTTPServer):
    """An HTTPServer that counts the TCP connections it accepts."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.connections = 0

    def handle_stream(self, stream: IOStream, address: tuple[str, int]) -> None:
        self.connections += 1
        super().handle_stream(stream, address)


class AuthServer:
    """Serves ``/userinfo`` like an OIDC provider; counts the calls and the connections."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        #: set when a "held-alice" check arrives (and waits for ``release``)
        self.held = asyncio.Event()
        self._server: CountingHTTPServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/userinfo"

    def start(self) -> None:
        sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET, backlog=1024)[0]
        self.port = sock.getsockname()[1]
        self._server = CountingHTTPServer(Application([(r"/userinfo", UserInfoHandler, dict(server=self))]))
        self._server.add_sockets([sock])

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return self._server.connections if self._server is not None else 0

    async def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
