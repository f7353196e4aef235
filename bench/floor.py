"""The stack's floor for a login: the CPU of the calls a login cannot do without, made with nothing around them.

``python -m bench.floor`` reads a job as JSON on stdin and prints its figures
as JSON on stdout, as ``bench.client`` does.  In a process of its own, on the
service's event loop, it times (CPU of this process, ``time.process_time``,
so the client's work in it counts, the servers' does not):

- one Redis round trip: an ``EVALSHA`` of a two-key read, through the
  service's own command client (``redis_map.connect``: its pool and timeouts);
- one auth check as the service makes it: ``auth.UserInfoClient.identify``
  (a ``GET`` of the UserInfo endpoint with a bearer token over a kept-alive
  connection, and the answer's JSON read into an identity);
- one RS256 signature of a login token's claims (``joserfc``, RSA-2048);
- one QR image: ``login.qr.render`` of a session's phone URL, as SVG.

A first-party login makes LOGIN_ROUND_TRIPS, LOGIN_AUTH_CALLS, one signature
and one QR render; the conductor adds their CPU to bare Tornado's for a
login's 7 requests (measured in the same run, on the same connections) to get
what a login would cost this stack if the service did nothing else: no
validation, JSON, headers, log line, metric, audit or pub/sub notice.  It is
a floor, not a target: each call is timed in a tight loop, warm.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from auth import UserInfoClient
from login.qr import render
from login.service import phone_url
from redis_map import connect
from redis_map.connection.script import Script
from runtime.process import event_loop_factory

#: Redis round trips a first-party login makes with the abuse limits on (README, "Performance", item 5)
LOGIN_ROUND_TRIPS = 11
#: auth checks a first-party login makes (the scan's and the confirm's)
LOGIN_AUTH_CALLS = 2
#: RS256 signatures a first-party login makes (its login token)
LOGIN_SIGNATURES = 1
#: QR images a first-party login renders
LOGIN_QR_RENDERS = 1
#: rounds of each timing; the median round counts
ROUNDS = 5
#: calls per round
CALLS = 400
#: the round trip's script: two reads, nothing written
TRIP_SCRIPT = "return redis.call('EXISTS', KEYS[1]) + redis.call('EXISTS', KEYS[2])"


async def cpu_per_call(call: Callable[[], Awaitable[object]], calls: int, rounds: int) -> float:
    """The median over ``rounds`` of this process's CPU per ``call()``, in milliseconds (after one warm-up)."""
    await call()
    medians = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            await call()
        medians.append((time.process_time() - started) * 1000 / calls)
    return statistics.median(medians)


async def measure(job: dict[str, Any]) -> dict[str, Any]:
    calls, rounds = int(job.get("calls", CALLS)), int(job.get("rounds", ROUNDS))
    redis = connect(job["redis_url"])
    script = Script(redis, TRIP_SCRIPT)  # as the store runs its scripts
    keys = [f"{job['namespace']}:floor:{secrets.token_hex(4)}", f"{job['namespace']}:floor:{secrets.token_hex(4)}"]
    auth_client = UserInfoClient(job["auth_url"])
    credential = f"Bearer user-{secrets.randbelow(10**6)}-floor"
    key = RSAKey.generate_key(2048)
    header = {"alg": "RS256", "kid": "floor", "typ": "JWT"}

    async def trip() -> object:
        return await script(keys=keys, args=["0", "1"])

    async def auth() -> object:
        return await auth_client.identify(credential)

    async def signature() -> object:
        now = int(time.time())
        claims = {"iss": "http://127.0.0.1", "sub": "user-1", "name": "User", "picture": "", "iat": now,
                  "exp": now + 300, "jti": secrets.token_urlsafe(12)}  # fmt: skip
        return jwt.encode(header, claims, key, algorithms=["RS256"])

    async def qr() -> object:
        return render(phone_url("http://127.0.0.1:8000", str(uuid.uuid4())), "svg")

    try:
        units = {
            "redis_trip_ms": await cpu_per_call(trip, calls, rounds),
            "auth_call_ms": await cpu_per_call(auth, calls, rounds),
            "signature_ms": await cpu_per_call(signature, calls, rounds),
            "qr_render_ms": await cpu_per_call(qr, calls, rounds),
        }
    finally:
        auth_client.close()
        await redis.aclose()
    per_login = {
        "redis_trips": LOGIN_ROUND_TRIPS,
        "auth_calls": LOGIN_AUTH_CALLS,
        "signatures": LOGIN_SIGNATURES,
        "qr_renders": LOGIN_QR_RENDERS,
    }
    calls_ms = (
        LOGIN_ROUND_TRIPS * units["redis_trip_ms"]
        + LOGIN_AUTH_CALLS * units["auth_call_ms"]
        + LOGIN_SIGNATURES * units["signature_ms"]
        + LOGIN_QR_RENDERS * units["qr_render_ms"]
    )
    return {**units, "per_login": per_login, "calls_ms_per_login": calls_ms}


def main() -> None:
    job = json.load(sys.stdin)
    with asyncio.Runner(loop_factory=event_loop_factory(job.get("event_loop", "uvloop"))) as runner:
        result = runner.run(measure(job))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
