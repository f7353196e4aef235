"""The ``oidc_logins`` job: closed-loop whole logins of a site through the OpenID provider, from ``/authorize``
to ``/userinfo``, as a registered client; and the registering of those clients (sites), done by the conductor."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import subprocess
import sys
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from bench.http import HTTPError
from bench.logins import LoginSteps, login_loop
from bench.procs import ROOT

#: the OpenID login's PKCE verifier (one for the whole run: its cost is the server's S256, not the client's)
OIDC_VERIFIER = secrets.token_urlsafe(48)
#: whose turn it is among the job's sites (clients): each in turn, so none passes its per-client limit
SITE_TURNS = itertools.count()
#: where the provider's login page carries its authorization request's id
REQUEST_ID = re.compile(rb'data-authorize="([^"]+)"')


async def oidc_login(job: dict[str, Any], steps: LoginSteps) -> None:
    """A site's login through the provider: /authorize, its QR session, the QR, /wait, /scan, /wait, /confirm,
    /authorize/complete, /oauth/token (the code, PKCE, client secret), /userinfo: 10 requests."""
    client = job["clients"][next(SITE_TURNS) % len(job["clients"])]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(OIDC_VERIFIER.encode()).digest()).rstrip(b"=").decode()
    query = urlencode(
        {
            "response_type": "code", "client_id": client["client_id"], "redirect_uri": client["redirect_uri"],
            "scope": "openid profile", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256",
        }
    )  # fmt: skip
    status, page = await steps.timed(steps.pc.request("GET", f"/authorize?{query}"))
    found = REQUEST_ID.search(page)
    if status != 200 or found is None:
        raise HTTPError(f"/authorize answered {status}")
    session = await steps.timed(steps.pc.call("POST", "/authorize/session", {"request": found.group(1).decode()}))
    await steps.qr(session)
    answer = await steps.scan_and_confirm(session)
    back = await steps.timed(
        steps.pc.call("POST", "/authorize/complete", {"cursor": session["cursor"], "code": answer["code"]})
    )
    code = parse_qs(urlsplit(back["redirect_to"]).query)["code"][0]
    form = urlencode(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": client["redirect_uri"],
         "code_verifier": OIDC_VERIFIER}
    ).encode()  # fmt: skip
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
    status, body = await steps.timed(steps.pc.request("POST", "/oauth/token", form, headers))
    if status != 200:
        raise HTTPError(f"/oauth/token answered {status}: {body[:200]!r}")
    access = json.loads(body)["access_token"]
    await steps.timed(steps.pc.call("GET", "/userinfo", None, {"Authorization": f"Bearer {access}"}))


async def oidc_logins_job(job: dict[str, Any]) -> dict[str, Any]:
    """Whole logins of a site through the OpenID provider, from /authorize to UserInfo."""
    return await login_loop(job, oidc_login)


def register_sites(redis_url: str, namespace: str, count: int) -> list[dict[str, str]]:
    """``count`` confidential OpenID clients (sites) for the OIDC logins, registered as an operator would.

    Several, as the token endpoint limits each client's requests (``ENDPOINT_CLIENT`` a minute): the
    logins are spread over them, as over the sites of a real deployment.
    """
    redirect_uri = "https://bench.example/callback"
    command = [
        sys.executable, "main.py", "clients", "add", "--redirect-uri", redirect_uri,
        f"--redis-url={redis_url}", f"--namespace={namespace}", "--json", "--name",
    ]  # fmt: skip
    pipe = subprocess.PIPE
    adding = [
        subprocess.Popen([*command, f"Benchmark site {index}"], cwd=ROOT, text=True, stdout=pipe, stderr=pipe)
        for index in range(count)
    ]
    clients = []
    for process in adding:
        out, err = process.communicate(timeout=60)
        if process.returncode != 0:
            raise RuntimeError(f"registering the benchmark's clients failed: {err.strip()}")
        client = json.loads(out)
        secret = client["client_secret"]
        clients.append({"client_id": client["client_id"], "client_secret": secret, "redirect_uri": redirect_uri})
    return clients
