"""/metrics on a port of its own, and /readyz naming a missing auth server."""

from __future__ import annotations

import asyncio

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from diagnostics.userinfo_server import AuthServer
from tests.conftest import MakeInstance
from tests.procs import free_port, listening_port, run_main


async def get(port: int, path: str) -> tuple[int, bytes]:
    client = AsyncHTTPClient(force_instance=True)
    try:
        response = await client.fetch(
            HTTPRequest(f"http://127.0.0.1:{port}{path}", request_timeout=10), raise_error=False
        )
        return response.code, response.body
    finally:
        client.close()


async def test_metrics_are_served_only_on_the_metrics_port() -> None:
    metrics_port = free_port()
    process = run_main(f"--metrics-port={metrics_port}", "--metrics-address=127.0.0.1")
    try:
        port = await asyncio.to_thread(listening_port, process)
        code, body = await get(metrics_port, "/metrics")
        assert code == 200 and b"qrlogin_" in body
        assert (await get(port, "/metrics"))[0] == 404
        assert (await get(port, "/healthz"))[0] == 200
        assert (await get(metrics_port, "/healthz"))[0] == 404
    finally:
        process.stop()


async def test_metrics_stay_on_the_main_port_by_default() -> None:
    process = run_main()
    try:
        port = await asyncio.to_thread(listening_port, process)
        assert (await get(port, "/metrics"))[0] == 200
    finally:
        process.stop()


async def test_a_metrics_port_in_use_is_one_line_at_start() -> None:
    port = free_port()
    holder = run_main(f"--port={port}")
    try:
        await asyncio.to_thread(listening_port, holder)
        process = run_main(f"--metrics-port={port}")
        code = await asyncio.to_thread(process.wait, 30)
        process.stop()  # its output read to the end
        assert code != 0
        assert process.lines[-1] == f"qrlogin: --metrics-port: *:{port} is already in use by another program"
    finally:
        holder.stop()


async def test_an_unreachable_auth_server_is_a_loud_warning_and_the_service_starts() -> None:
    closed = free_port()
    process = run_main(f"--auth-url=http://127.0.0.1:{closed}/userinfo")
    try:
        await asyncio.to_thread(process.wait_for_line, rf"--auth-url: the auth server at 127.0.0.1:{closed} cannot")
        port = await asyncio.to_thread(listening_port, process)
        code, body = await get(port, "/readyz")
        assert code == 503 and b'"auth":"unreachable"' in body
    finally:
        process.stop()


async def test_readyz_names_the_auth_server_when_it_is_down(
    make_instance: MakeInstance, auth_server: AuthServer
) -> None:
    reachable = await make_instance(auth_url=auth_server.url)
    answer = await reachable.request("GET", "/readyz")
    assert answer.code == 200 and answer.body["checks"]["auth"] is True

    down = await make_instance(auth_url=f"http://127.0.0.1:{free_port()}/userinfo")
    answer = await down.request("GET", "/readyz")
    assert answer.code == 503
    assert answer.body["checks"]["auth"] is False and answer.body["failures"] == {"auth": "unreachable"}


async def test_demo_mode_has_no_auth_check(make_instance: MakeInstance) -> None:
    answer = await (await make_instance()).request("GET", "/readyz")
    assert answer.code == 200 and "auth" not in answer.body["checks"]
