"""A pool of real ``python main.py`` instances behind a real nginx running deploy/nginx.conf."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient

from tests.procs import ROOT, Process, free_port, listening_port, run_main
from tests.service import TEST_SECRET
from tests.service import Client as ServiceClient

#: the shipped config the tests run
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
#: what the test's nginx logs per request: enough to see which instance served it
ACCESS_LOG_FORMAT = "'$request_method $request_uri $status $upstream_addr'"
#: what a forger claims to be
FORGED = {"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.6"}


@dataclass
class Served:
    """A running ``python main.py`` and the port it listens on."""

    process: Process
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_instances(count: int, redis_url: str, namespace: str, *extra: str) -> list[Served]:
    """``count`` instances sharing one Redis and secret, in demo auth mode; waits until all listen."""
    processes = [
        run_main(f"--redis-url={redis_url}", f"--namespace={namespace}", f"--secret={TEST_SECRET}", *extra)
        for _ in range(count)
    ]
    return [Served(process, listening_port(process)) for process in processes]


def render_nginx_conf(directory: Path, port: int, upstreams: list[int]) -> Path:
    """deploy/nginx.conf with the test's ports, and its files kept in ``directory``."""
    text = NGINX_CONF.read_text()
    servers = "".join(f"        server 127.0.0.1:{upstream};\n" for upstream in upstreams)
    text, count = re.subn(r"(?m)^\s*server 127\.0\.0\.1:\d+;\n", "", text)
    assert count, "deploy/nginx.conf has no upstream servers to replace"
    text = text.replace("    upstream qrlogin {\n", "    upstream qrlogin {\n" + servers)
    text, count = re.subn(r"listen \d+;", f"listen 127.0.0.1:{port};", text)
    assert count == 1, "deploy/nginx.conf should listen on exactly one port"
    private = "".join(
        f"    {kind}_temp_path {directory / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    private += f"    log_format upstreams {ACCESS_LOG_FORMAT};\n"
    private += f"    access_log {directory / 'access.log'} upstreams;\n"
    text = text.replace("http {\n", "http {\n" + private, 1)
    conf = directory / "nginx.conf"
    conf.write_text(text)
    return conf


def start_nginx(binary: str, directory: Path, upstreams: list[int]) -> tuple[Process, int]:
    port = free_port()
    conf = render_nginx_conf(directory, port, upstreams)
    directives = f"daemon off; pid {directory / 'nginx.pid'}; error_log stderr notice; user root;"
    process = Process([binary, "-p", str(directory), "-c", str(conf), "-g", directives], name="nginx")
    process.wait_for_line(r"start worker process")
    return process, port


class Client(ServiceClient):
    """The service client for any base URL (nginx, a pool of workers), optionally from a chosen source address."""

    #: requests pass through nginx and parked long-polls: more time than the in-process default
    timeout = 60.0

    def __init__(self, base_url: str, source_ip: str | None = None) -> None:
        self.url = base_url
        self.source_ip = source_ip
        self.http = AsyncHTTPClient(force_instance=True, max_clients=200)

    @property
    def base_url(self) -> str:
        return self.url

    def close(self) -> None:
        self.http.close()


async def login(pc: Client, phone: Client, number: int, pc_ip: str) -> None:
    """One whole login; each step tagged ?login=<number> so nginx's log shows where it went."""
    tag = f"?login={number}"
    created = await pc.post("/uuid" + tag, headers=FORGED)
    assert created.code == 200, created.body
    cursor, uuid = created.body["cursor"], created.body["uuid"]
    user = f"demo:user{number}"

    parked = asyncio.ensure_future(pc.post("/wait" + tag, {"cursor": cursor, "status": 0}))
    scanned = await phone.post("/scan" + tag, {"uuid": uuid}, user=user)
    assert scanned.code == 200, scanned.body
    assert scanned.body["requester"]["ip"] == pc_ip  # the PC's real address, not nginx's nor the forged one
    assert (await parked).body["status"] == 1  # woken by the change, not by the timeout

    parked = asyncio.ensure_future(pc.post("/wait" + tag, {"cursor": cursor, "status": 1}))
    confirmed = await phone.post("/confirm" + tag, {"uuid": uuid}, user=user)
    assert confirmed.code == 200, confirmed.body
    answer = await parked
    assert answer.body["status"] == 2, answer.body

    token = await pc.post("/token" + tag, {"cursor": cursor, "code": answer.body["code"]})
    assert token.code == 200, token.body
    assert token.body["user"]["name"] == f"user{number}"
    again = await pc.post("/token" + tag, {"cursor": cursor, "code": answer.body["code"]})
    assert again.code == 200 and again.body["token"] == token.body["token"]  # a retry: the one login, not a second
