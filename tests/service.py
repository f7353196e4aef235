"""One qrlogin instance running in the test's event loop on a real socket."""

from __future__ import annotations

import json
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from auth import Authenticator, TokenIssuer
from redis_map.limit_rules import RateLimits
from runtime.composition import open_service
from runtime.http import ConnectionLimits, build_http_server
from runtime.process import LISTEN_BACKLOG
from runtime.server import connection_limits
from runtime.settings import Settings

#: what tests pass as the deprecated --secret (ignored: login tokens are signed with the shared keys)
TEST_SECRET = "test-secret-0123456789abcdef-0123456789"
#: test instances run with the service's default abuse limits
DEFAULT_LIMITS = RateLimits()


@dataclass
class Answer:
    code: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        return self.body.get("error") if isinstance(self.body, dict) else None


class Client:
    """The client side of a service on ``127.0.0.1:<port>``, in this process or another."""

    http: AsyncHTTPClient
    port: int
    #: the loopback address requests come from (None: the system's choice)
    source_ip: str | None = None
    #: seconds a request may take, unless a call says otherwise
    timeout = 30.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if payload is None and method in ("POST", "PUT", "PATCH"):
            payload = b""
        request = HTTPRequest(
            self.base_url + path,
            method=method,
            body=payload,
            headers=headers,
            request_timeout=self.timeout if timeout is None else timeout,
            allow_nonstandard_methods=True,
            network_interface=self.source_ip,
        )
        response = await self.http.fetch(request, raise_error=False)
        content_type = response.headers.get("Content-Type", "")
        parsed: Any = response.body
        if content_type.startswith("application/json") and response.body:
            parsed = json.loads(response.body)
        return Answer(response.code, parsed, dict(response.headers))

    async def post(self, path: str, body: Any = None, *, user: str | None = None, **kwargs: Any) -> Answer:
        headers = dict(kwargs.pop("headers", None) or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {user}"
        return await self.request("POST", path, body, headers=headers, **kwargs)

    async def new_session(self) -> dict[str, Any]:
        answer = await self.post("/uuid", headers={"User-Agent": "TestBrowser/1.0 (X11; Linux x86_64)"})
        assert answer.code == 200, answer.body
        return dict(answer.body)

    async def approve(self, uuid: str, user: str) -> Answer:
        """What the app does: scan (and show who asks), then confirm."""
        scan = await self.post("/scan", {"uuid": uuid}, user=user)
        assert scan.code == 200, scan.body
        return await self.post("/confirm", {"uuid": uuid}, user=user)

    async def metric(self, name: str, **labels: str) -> float:
        """One sample of ``/metrics`` (0 when absent)."""
        answer = await self.request("GET", "/metrics")
        assert answer.code == 200
        for family in text_string_to_metric_families(answer.body.decode()):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    async def wait(self, cursor: str, status: int = 0, **kwargs: Any) -> Answer:
        return await self.post("/wait", {"cursor": cursor, "status": status}, **kwargs)


class Instance(Client):
    """A whole service, built by the composition root as main.py builds it, plus a client for it."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        authenticator: Authenticator,
        *,
        demo: bool = False,
        wait_timeout: float = 10.0,
        rate_limits: RateLimits | None = DEFAULT_LIMITS,
        cors_origins: tuple[str, ...] = (),
        limits: ConnectionLimits | None = None,
        **settings: Any,
    ) -> None:
        self.store_url = redis_url
        self.authenticator = authenticator
        self.demo = demo
        self.settings = Settings(
            namespace=namespace,
            token_ttl=300,
            wait_timeout=wait_timeout,
            rate_limits=rate_limits,
            cors_origins=frozenset(cors_origins),
            **settings,
        )
        #: the bounds on connections: as main.py sets them unless a test shortens them
        self.limits = limits or connection_limits(self.settings)
        #: once started: the login-token issuer, bound to the instance's signing keys (its terms from settings)
        self.tokens: TokenIssuer
        self.http = AsyncHTTPClient(force_instance=True, max_clients=1000)
        self.port = 0
        self._stack = AsyncExitStack()
        self._server: HTTPServer | None = None

    async def start(self, *, listen: bool = True) -> Instance:
        service = await self._stack.enter_async_context(
            open_service(
                self.settings,
                self.store_url,
                authenticator=self.authenticator,
                demo=self.demo,
                listen=listen,
                sweep=False,
            )
        )
        self.service = service
        self.tokens = service.services.tokens
        self.redis = service.redis
        self.store = service.store
        self.registry = service.registry
        self.listener = service.listener
        self.metrics = service.metrics
        self.audit = service.audit
        self.services = service.services
        sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET, backlog=LISTEN_BACKLOG)[0]
        self.port = sock.getsockname()[1]
        self._server = build_http_server(service.delegate, self.limits)
        self._server.add_sockets([sock])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
        await self._stack.aclose()
        self.http.close()
