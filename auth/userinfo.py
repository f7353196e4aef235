"""The auth check against the company's OpenID Connect UserInfo endpoint.

The GETs go through Tornado's own HTTP/1.1 client connection over streams
kept alive between checks (auth/keepalive.py): per check, a request written
and an answer parsed in Python on a stream already open, with no per-request
set-up of a libcurl handle, its ~25 options, and its socket and timer
callbacks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from datetime import timedelta
from pathlib import Path

from tornado.locks import Semaphore

from auth.identity import identity_from_claims
from auth.keepalive import Answer, KeptAliveGet, Unreachable, Unreadable
from login.errors import AuthTimeout, AuthUnavailable, CredentialRejected
from login.models import Identity

log = logging.getLogger("qrlogin.auth")

#: longest wait for the auth server, connecting and answering
AUTH_TIMEOUT = 5.0
#: most auth calls in flight at once; more wait their turn
MAX_CONCURRENT_CALLS = 64
#: longest an auth call waits for its turn before the request fails with 502
QUEUE_TIMEOUT = 10.0
#: largest UserInfo answer we read
MAX_ANSWER_BYTES = 64 * 1024


class UserInfoClient:
    """Verifies an app's bearer credential with a GET to the UserInfo URL.

    200 with a JSON ``sub`` names the user; 401/403 rejects the credential;
    anything else (3xx, 5xx, bad JSON, no answer in time) is the auth server's
    failure and never changes a session.  What went wrong is logged, one
    line, never with the credential; the client is told only that it did:
    the log line names the auth server's internal address.
    """

    def __init__(self, url: str, *, timeout: float = AUTH_TIMEOUT) -> None:
        self.url = url
        self._timeout = timeout
        # Our semaphore bounds the calls in flight, so the auth timeout measures
        # the auth server alone, never time spent queueing behind other calls;
        # at most as many connections are open as calls were ever in flight.
        self._slots = Semaphore(MAX_CONCURRENT_CALLS)
        self._http = KeptAliveGet(
            url, max_idle=MAX_CONCURRENT_CALLS, max_body=MAX_ANSWER_BYTES, ca_file=system_ca_file()
        )

    async def identify(self, authorization: str) -> Identity:
        try:
            await self._slots.acquire(timeout=timedelta(seconds=QUEUE_TIMEOUT))
        except TimeoutError as exc:
            raise AuthUnavailable("Too many auth checks are in flight.") from exc
        try:
            async with asyncio.timeout(self._timeout):
                answer = await self._http.get({"Authorization": authorization, "Accept": "application/json"})
        except TimeoutError as exc:
            log.warning("auth check timed out: no answer from %s within %.1f s", self._http.origin, self._timeout)
            raise AuthTimeout() from exc
        except Unreachable as exc:
            log.warning("auth check failed: %s", exc)
            raise AuthUnavailable(UNREACHABLE) from exc
        except Unreadable as exc:
            log.warning("auth check failed: %s", exc)
            raise AuthUnavailable(ANSWER_UNREADABLE) from exc
        finally:
            self._slots.release()
        return _identity(answer)

    def close(self) -> None:
        self._http.close()


def _identity(answer: Answer) -> Identity:
    if answer.code in (401, 403):
        raise CredentialRejected()
    if answer.code != 200:
        log.warning("auth check failed: the auth server answered HTTP %d", answer.code)
        raise AuthUnavailable(f"The auth server answered HTTP {answer.code}.")
    try:
        claims = json.loads(answer.body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep for the parser
        log.warning("auth check failed: the answer is not JSON (%s)", type(exc).__name__)
        raise AuthUnavailable("The auth server's answer is not JSON.") from exc
    identity = identity_from_claims(claims)
    if identity is None:
        log.warning("auth check failed: the answer names no usable user ('sub')")
        raise AuthUnavailable("The auth server's answer names no user ('sub').")
    return identity


#: what the client is told when the auth server could not be reached, or its answer read
UNREACHABLE = "The auth server could not be reached."
ANSWER_UNREADABLE = "The auth server's answer could not be read."


def system_ca_file() -> str | None:
    """The system's CA bundle, as Python's ssl finds it (``SSL_CERT_FILE`` first), if there is one."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return candidate
    return None
