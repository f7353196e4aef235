"""A small website that offers "Log in with qrlogin", built on Authlib's Flask client and nothing of qrlogin's.

It is what any site does with an OpenID provider: discovery, the redirect to
the authorization endpoint (PKCE S256, state, nonce), the code exchanged at
the token endpoint with its client secret, the ID token checked through the
JWKS (signature, iss, aud, nonce, exp, at_hash: Authlib does all of it),
UserInfo; then refresh (the provider rotates the refresh token), and log-out
by revoking it (RFC 7009).  It also checks the ``iss`` that comes back with
the code (RFC 9207), which Authlib's client leaves to the site.

    pip install -r examples/requirements.txt
    QRLOGIN_ISSUER=http://localhost:8080 QRLOGIN_CLIENT_ID=… QRLOGIN_CLIENT_SECRET=… \\
        python -m examples.relying_party            # then open http://localhost:5000/

Tokens are kept on the server (in memory, keyed by a random id in the signed
session cookie), never in the browser.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, abort, redirect, render_template_string, request, session, url_for
from werkzeug.wrappers import Response

#: the page: who is logged in (or a button to log in), and what to do next
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Example site</title></head>
<body>
<h1>Example site</h1>
{% if message %}<p id="message">{{ message }}</p>{% endif %}
{% if user %}
  <p id="who">Logged in as {{ user.get("name") or user["sub"] }}</p>
  <p id="sub">{{ user["sub"] }}</p>
  <form method="post" action="{{ url_for('refresh') }}"><button id="refresh">Refresh tokens</button></form>
  <form method="post" action="{{ url_for('logout') }}"><button id="logout">Log out</button></form>
{% else %}
  <p><a id="login" href="{{ url_for('login') }}">Log in with qrlogin</a></p>
{% endif %}
</body></html>
"""


@dataclass
class Tokens:
    """The sites's token store: tokens by a random id kept in the (signed) session cookie."""

    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, token: dict[str, Any]) -> str:
        key = secrets.token_urlsafe(16)
        with self.lock:
            self.by_id[key] = token
        return key

    def get(self, key: str | None) -> dict[str, Any] | None:
        with self.lock:
            return self.by_id.get(key or "")

    def replace(self, key: str, token: dict[str, Any]) -> None:
        with self.lock:
            self.by_id[key] = token

    def drop(self, key: str | None) -> dict[str, Any] | None:
        with self.lock:
            return self.by_id.pop(key or "", None)


def create_app(issuer: str, client_id: str, client_secret: str, *, secret_key: str | None = None) -> Flask:
    """The example site, as a client of the provider at ``issuer``."""
    app = Flask(__name__)
    app.secret_key = secret_key or secrets.token_urlsafe(32)
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    tokens = Tokens()
    app.extensions["tokens"] = tokens
    oauth = OAuth(app)
    qrlogin = oauth.register(
        "qrlogin",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )

    def provider_session() -> OAuth2Session:
        """A plain Authlib OAuth 2.0 session for the calls the Flask client has no method for (revocation)."""
        return OAuth2Session(client_id, client_secret)

    @app.get("/")
    def index() -> str:
        token = tokens.get(session.get("tokens"))
        return render_template_string(PAGE, user=session.get("user") if token else None,
                                      message=session.pop("message", None))  # fmt: skip

    @app.get("/login")
    def login() -> Response:
        return qrlogin.authorize_redirect(url_for("callback", _external=True))  # type: ignore[no-any-return]

    @app.get("/callback")
    def callback() -> Response:
        metadata = qrlogin.load_server_metadata()
        # RFC 9207: the answer must come from the provider we sent the person to (mix-up defence).
        if request.args.get("iss") != metadata["issuer"]:
            abort(400, "the authorization response names another issuer")
        try:
            token = qrlogin.authorize_access_token()  # state, the code exchange with PKCE, the ID token checked
        except OAuthError as exc:
            session["message"] = "Login cancelled." if exc.error == "access_denied" else f"Login failed: {exc.error}"
            return redirect(url_for("index"))
        userinfo = qrlogin.userinfo(token=token)
        if userinfo["sub"] != token["userinfo"]["sub"]:
            abort(400, "UserInfo names another user than the ID token")
        session["user"] = dict(userinfo)
        session["tokens"] = tokens.put(token)
        return redirect(url_for("index"))

    @app.post("/refresh")
    def refresh() -> Response:
        key = session.get("tokens")
        token = tokens.get(key)
        if key is None or token is None:
            return redirect(url_for("index"))
        try:
            fresh = qrlogin.fetch_access_token(grant_type="refresh_token", refresh_token=token["refresh_token"])
        except OAuthError as exc:
            tokens.drop(key)
            session["message"] = f"Please log in again ({exc.error})."
            return redirect(url_for("index"))
        tokens.replace(key, fresh)
        session["message"] = "Tokens refreshed."
        return redirect(url_for("index"))

    @app.post("/logout")
    def logout() -> Response:
        token = tokens.drop(session.pop("tokens", None))
        session.pop("user", None)
        if token is not None:
            revocation = qrlogin.load_server_metadata()["revocation_endpoint"]
            with provider_session() as client:
                refresh = token["refresh_token"]
                client.revoke_token(revocation, token=refresh, token_type_hint="refresh_token")  # noqa: S106
        session["message"] = "Logged out."
        return redirect(url_for("index"))

    return app


def main() -> None:
    app = create_app(
        os.environ.get("QRLOGIN_ISSUER", "http://localhost:8080"),
        os.environ["QRLOGIN_CLIENT_ID"],
        os.environ["QRLOGIN_CLIENT_SECRET"],
    )
    app.run(host="localhost", port=int(os.environ.get("PORT", "5000")))


if __name__ == "__main__":
    main()
