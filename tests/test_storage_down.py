"""Redis unreachable: a clear 503, quickly, and the service keeps serving."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.conftest import MakeInstance


async def test_requests_answer_503_when_redis_is_unreachable(make_instance: MakeInstance, redis_url: str) -> None:
    healthy = await make_instance()
    session = await healthy.new_session()
    # An instance whose Redis is a socket nobody listens on. Its listener cannot
    # subscribe, so build it without starting the listener.
    from tests.service import Instance

    dead_url = f"unix://{Path(tempfile.gettempdir()) / 'qrlogin-no-such-redis.sock'}"
    broken = Instance(dead_url, healthy.store.namespace, healthy.authenticator)
    await broken.start(listen=False)
    try:
        started = time.monotonic()
        for method, path, body in [
            ("POST", "/uuid", None),
            ("POST", "/wait", {"cursor": session["cursor"]}),
            ("GET", session["qr_svg"], None),
        ]:
            answer = await broken.request(method, path, body)
            assert answer.code == 503, (path, answer.body)
            assert answer.error == "storage_unavailable"
        confirm = await broken.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
        assert confirm.code == 503
        token = await broken.post("/token", {"cursor": session["cursor"], "code": "c" * 22})
        assert token.code == 503
        assert time.monotonic() - started < 10
    finally:
        await broken.stop()
    # The healthy instance was never affected.
    assert (await healthy.wait(session["cursor"], status=-1)).body["status"] == 0
