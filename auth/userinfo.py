"""The auth check against the company's OpenID Connect UserInfo endpoint."""

from __future__ import annotations

import json
from datetime import timedelta

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.locks import Semaphore
from tornado.simple_httpclient import HTTPTimeoutError

from auth.identity import identity_from_claims
from errors import AuthTimeout, AuthUnavailable, CredentialRejected
from models import Identity

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
    anything else (5xx, bad JSON, no answer in time) is the auth server's
    failure and never changes a session.
    """

    def __init__(self, url: str, *, timeout: float = AUTH_TIMEOUT) -> None:
        self.url = url
        self._timeout = timeout
        # A private client (Tornado's shared one allows only 10 calls at once),
        # throttled by our semaphore so the auth timeout measures the auth
        # server alone, never time spent queueing behind other calls.
        self._slots = Semaphore(MAX_CONCURRENT_CALLS)
        self._http = AsyncHTTPClient(
            force_instance=True, max_clients=MAX_CONCURRENT_CALLS, max_body_size=MAX_ANSWER_BYTES
        )

    async def identify(self, authorization: str) -> Identity:
        request = HTTPRequest(
            self.url,
            headers={"Authorization": authorization, "Accept": "application/json"},
            connect_timeout=self._timeout,
            request_timeout=self._timeout,
            follow_redirects=False,
        )
        try:
            await self._slots.acquire(timeout=timedelta(seconds=QUEUE_TIMEOUT))
        except TimeoutError as exc:
            raise AuthUnavailable("Too many auth checks are in flight.") from exc
        try:
            response = await self._http.fetch(request, raise_error=False)
        except HTTPTimeoutError as exc:
            raise AuthTimeout() from exc
        except (HTTPClientError, StreamClosedError, OSError) as exc:
            raise AuthUnavailable(f"The auth server could not be reached: {exc}") from exc
        finally:
            self._slots.release()
        if response.code in (401, 403):
            raise CredentialRejected()
        if response.code != 200:
            raise AuthUnavailable(f"The auth server answered HTTP {response.code}.")
        try:
            claims = json.loads(response.body)
        except ValueError as exc:
            raise AuthUnavailable("The auth server's answer is not JSON.") from exc
        identity = identity_from_claims(claims)
        if identity is None:
            raise AuthUnavailable("The auth server's answer names no user ('sub').")
        return identity

    def close(self) -> None:
        self._http.close()
