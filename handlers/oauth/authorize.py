"""The authorization endpoint and its pages: the PC's login page for one request, the phone page naming the site.

- ``GET|POST /authorize``: the request checked (``oidc.authorize``); an unknown
  client or redirect URI gets our error page, any later error goes back to the
  client; else the PC login page, in its variant for this request.
- ``POST /authorize/session``: that page's QR (a login session bound to the request).
- ``POST /authorize/complete``: the tab with the cursor, once the phone decided,
  learns where to go back to (``{"redirect_to"}``).
- ``GET /s/<uuid>``: the phone page, naming the site that asks and where it sends the browser.
"""

from __future__ import annotations

from typing import Any

from handlers.base import BaseHandler
from handlers.branding import Branding, Logo
from handlers.oauth.base import issuer_of
from handlers.page_cache import PageCache
from handlers.pages import DEMO_NAMES, LoginPageHandler, PhonePageHandler
from handlers.session import new_session_answer, public_base, requester_of
from handlers.translations import LOGIN_TEXTS, PHONE_TEXTS
from login.errors import InvalidRequest, InvalidTransition
from login.models import CODE_PATTERN, Cursor
from oidc.authorization import Authorizations
from oidc.authorize import Parameters, RedirectedError
from oidc.authorize.respond import error_answer, redirect_to
from oidc.errors import InvalidRequest as OAuthInvalidRequest
from oidc.errors import OAuthError
from oidc.provider import Provider
from redis_map import SessionStore

#: longest request id read from a page's call
MAX_REQUEST_ID = 64


class AuthorizeHandler(LoginPageHandler):
    """The authorization request; its login page, or an error (ours, or sent back to the client)."""

    def initialize(  # type: ignore[override]
        self, provider: Provider, idle_codes: int, branding: Branding, logo: Logo | None, pages: PageCache
    ) -> None:
        super().initialize(idle_codes, branding, logo)
        self.provider = provider
        self.pages = pages

    @property
    def authorizations(self) -> Authorizations:
        return self.provider.authorizations

    async def get(self) -> None:  # type: ignore[override]
        await self.authorize(self.request.query_arguments)

    async def post(self) -> None:
        # OpenID Connect Core §3.1.2.1: the same request may come as a form POST.
        if self.request.query_arguments:
            raise OAuthInvalidRequest("A POSTed authorization request carries its parameters in the body only.")
        await self.authorize(self.request.body_arguments)

    async def authorize(self, arguments: dict[str, list[bytes]]) -> None:
        try:
            values = {name: [value.decode("utf-8") for value in items] for name, items in arguments.items()}
        except UnicodeDecodeError:
            raise OAuthInvalidRequest("The request's parameters are not UTF-8.") from None
        try:
            request_id, request = await self.authorizations.start(Parameters(values))
        except RedirectedError as exc:
            answer = error_answer(exc.error)
            self.redirect(redirect_to(exc.redirect_uri, answer, state=exc.state, issuer=self.issuer()), status=303)
            return
        # Rendered once per language and site: only the request id and the language links' query differ.
        self.render_kept(
            self.pages,
            (request.client_name, request.redirect_host),
            "authorize.html",
            {"request_id": request_id, "lang_query": self.lang_query()},
            lambda: dict(
                texts=self.texts(LOGIN_TEXTS),
                idle_codes=self.idle_codes,
                after_login_url="",
                site_name=request.client_name,
                site_host=request.redirect_host,
            ),
        )

    def issuer(self) -> str:
        return issuer_of(self.provider, self.request)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if not isinstance(exc, OAuthError):
            super().write_error(status_code, **kwargs)
            return
        # Never a redirect: the client or its redirect URI is not to be trusted (RFC 6749 §4.1.2.1).
        self.set_status(exc.status_code)
        self.render("error.html", title="This login link is not valid", detail=exc.message)


class AuthorizeSessionHandler(BaseHandler):
    """``POST /authorize/session`` ``{"request"}``: a login session (QR) for that request's page, as ``/uuid``."""

    def initialize(self, provider: Provider, public_url: str | None) -> None:
        self.provider = provider
        self.public_url = public_url

    async def post(self) -> None:
        body = self.json_body()
        request_id = self.str_field(body, "request")
        if len(request_id) > MAX_REQUEST_ID:
            raise InvalidRequest("'request' is malformed.")
        base = public_base(self.public_url, self.request)
        requester = requester_of(self.request, base)
        session = await self.provider.authorizations.new_login(request_id, requester)
        self.write_json(new_session_answer(session, base))


class AuthorizeCompleteHandler(BaseHandler):
    """``POST /authorize/complete`` ``{"cursor", "code"}`` (no code once denied): ``{"redirect_to"}``."""

    def initialize(self, provider: Provider) -> None:
        self.provider = provider

    async def post(self) -> None:
        body = self.json_body()
        cursor = Cursor.parse(self.str_field(body, "cursor"))
        if cursor is None:
            raise InvalidRequest("'cursor' is malformed.")
        code = body.get("code")
        if code is not None:
            code = self.str_field(body, "code", CODE_PATTERN)
        issuer = issuer_of(self.provider, self.request)
        back = await self.provider.authorizations.complete(cursor, code, self.request.remote_ip or "", issuer)
        self.write_json({"redirect_to": back})


class AuthorizePhonePageHandler(PhonePageHandler):
    """The phone page; for a login answering an authorization request, it names the site and its host."""

    def initialize(  # type: ignore[override]
        self, provider: Provider, store: SessionStore, demo: bool, branding: Branding, logo: Logo | None
    ) -> None:
        super().initialize(store, demo, branding, logo)
        self.provider = provider

    async def get(self, uuid: str) -> None:
        request = await self.provider.authorizations.asked_by(uuid)
        if request is None:
            await super().get(uuid)
            return
        view = await self.store.require(uuid)
        if not view.status.pending:
            raise InvalidTransition()
        self.render(
            "authorize_phone.html",
            uuid=uuid,
            demo=self.demo,
            demo_names=DEMO_NAMES,
            texts=self.texts(PHONE_TEXTS),
            site_name=request.client_name,
            site_host=request.redirect_host,
        )
