"""``POST /oauth/token``: the provider's token endpoint (RFC 6749 §3.2; ``/token`` is the first-party exchange)."""

from __future__ import annotations

from handlers.oauth.base import OAuthHandler


class TokenEndpointHandler(OAuthHandler):
    """A form in, the token response out (``Cache-Control: no-store``), or an RFC 6749 §5.2 error."""

    async def post(self) -> None:
        answer = await self.provider.token_endpoint.token(
            self.form(), self.request.headers.get("Authorization", ""), self.request.remote_ip or ""
        )
        self.write_json(answer)
