"""One qrlogin instance running in the test's event loop on a real socket."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from auth import Authenticator, TokenIssuer
from handlers import Services, make_app
from handlers.middleware.security import HttpPolicy
from login.qr import QrRenderer
from login.waiters import WaiterRegistry
from redis_map import ChangeListener, SessionStore, connect, connect_pubsub
from redis_map.audit import AuditLog
from redis_map.ratelimit import RateLimiter, RateLimits
from runtime.metrics import Metrics
from runtime.process import LISTEN_BACKLOG

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
    """A whole service (store, registry, listener, HTTP server) plus a client for it."""

    def __init__(
        self,
        redis_url: str,
        namespace: str,
        authenticator: Authenticator,
        *,
        session_ttl: float = 120.0,
        wait_timeout: float = 10.0,
        code_ttl: float = 60.0,
        public_url: str | None = None,
        demo: bool = False,
        idle_codes: int = 5,
        rate_limits: RateLimits | None = DEFAULT_LIMITS,
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        self.store_url = redis_url
        self.redis = connect(redis_url)
        self.pubsub_redis = connect_pubsub(redis_url)
        self.store = SessionStore(self.redis, namespace=namespace, session_ttl=session_ttl, code_ttl=code_ttl)
        self.registry = WaiterRegistry()
        self.listener = ChangeListener(self.pubsub_redis, self.store.channel, self.registry)
        self.tokens = TokenIssuer(TEST_SECRET, ttl=300)
        self.metrics = Metrics()
        self.audit = AuditLog(self.redis, namespace=namespace, session_key=self.store.key)
        limiter = RateLimiter(self.redis, namespace=namespace, limits=rate_limits, wait_timeout=wait_timeout)
        self.services = Services(
            store=self.store,
            registry=self.registry,
            authenticator=authenticator,
            tokens=self.tokens,
            renderer=QrRenderer(),
            public_url=public_url,
            wait_timeout=wait_timeout,
            limiter=limiter,
            audit=self.audit,
            metrics=self.metrics,
            policy=HttpPolicy.of(cors_origins),
            listener=self.listener,
            demo=demo,
            idle_codes=idle_codes,
        )
        self.http = AsyncHTTPClient(force_instance=True, max_clients=1000)
        self.port = 0
        self._server: HTTPServer | None = None

    async def start(self, *, listen: bool = True) -> Instance:
        if listen:
            await self.listener.start()
        sock = bind_sockets(0, "127.0.0.1", family=socket.AF_INET, backlog=LISTEN_BACKLOG)[0]
        self.port = sock.getsockname()[1]
        self._server = HTTPServer(make_app(self.services), max_body_size=1024 * 1024)
        self._server.add_sockets([sock])
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
        await self.listener.stop()
        self.http.close()
        await self.redis.aclose()
        await self.pubsub_redis.aclose()
