"""Whole first-party logins with the PC following its session over ``/ws`` instead of ``/wait`` long-polls.

The login loop, its counting and timing are the long-poll login's
(``bench.logins.login_loop`` and ``LoginSteps``); only how the PC learns of
the scan and the confirm differs: ``POST /uuid``, the QR, one WebSocket (the
upgrade, then the cursor and known status in its first message), ``/scan``
(pushed), ``/confirm`` (pushed, with the code; the server then closes),
``/token``.  Six HTTP requests, the upgrade counted as one; the WebSocket
messages are counted apart.
"""

from __future__ import annotations

import json
import time
from typing import Any

from bench.http import HTTPError
from bench.logins import LoginSteps, first_party_login, login_loop
from bench.ws_client import upgrade

#: the close code of a session gone final (handlers.socket.CloseCode.FINAL)
CLOSED_FINAL = 1000
#: the status a new session's PC knows
WAITING = 0


class WebSocketLogin:
    """One login over ``/ws``, as ``login_loop`` calls it; counts the WebSocket messages of all of them."""

    def __init__(self) -> None:
        #: text messages the PCs sent (the first message) and were pushed
        self.sent = 0
        self.pushed = 0
        #: logins done
        self.logins = 0

    async def __call__(self, job: dict[str, Any], steps: LoginSteps) -> None:
        session = await steps.timed(steps.pc.call("POST", "/uuid"))
        await steps.qr(session)
        # The PC's second connection, which the long-poll login waits on, is upgraded instead: the
        # upgrade is timed and counted as a request; the first message rides right behind it.
        socket = await steps.timed(upgrade(steps.poll, {"cursor": session["cursor"], "status": WAITING}))
        try:
            answer: dict[str, Any] = {}
            for action in ("/scan", "/confirm"):
                began = time.perf_counter()
                await steps.timed(steps.phone.call("POST", action, {"uuid": session["uuid"]}, steps.app_auth))
                answer = json.loads(await socket.message())
                steps.wakes.append((time.perf_counter() - began) * 1000)  # the push, as the long-poll's answer
            if answer["status"] != 2:
                raise HTTPError(f"the login ended in status {answer['status']}")
            await steps.timed(steps.pc.call("POST", "/token", {"cursor": session["cursor"], "code": answer["code"]}))
            if await socket.closed != CLOSED_FINAL:
                raise HTTPError("the server did not close the socket as final")
        finally:
            socket.close()
        self.sent += socket.sent
        self.pushed += socket.received
        self.logins += 1


async def compare(
    port: int, pid: int, transport: str, concurrency: int, duration: float, address_block: int
) -> dict[str, Any]:
    """Closed-loop logins on the service at ``port`` (process ``pid``), the PC on ``transport``.

    ``transport`` is ``long-poll`` (``bench.logins.first_party_login``) or
    ``websocket``.  Every login is a new PC and phone, as in ``python -m
    bench`` (fresh addresses of ``127.<address_block>.0.0/16``, a user of its
    own; the service's abuse limits on).  The figures are ``login_loop``'s,
    plus the WebSocket's messages per login.
    """
    job = {
        "port": port,
        "pid": pid,
        "concurrency": concurrency,
        "duration": duration,
        "label": transport,
        "address_block": address_block,
    }
    if transport == "long-poll":
        return await login_loop(job, first_party_login)
    login = WebSocketLogin()
    result = await login_loop(job, login)
    # The warm-up's logins are counted too: per login, that changes nothing.
    done = max(1, login.logins)
    result.update(messages_sent_per_login=login.sent / done, messages_pushed_per_login=login.pushed / done)
    return result
