"""``GET|POST /userinfo``: the access token's user (OpenID Connect Core §5.3), or RFC 6750's errors."""

from __future__ import annotations

from handlers.oauth.base import OAuthHandler


class UserInfoHandler(OAuthHandler):
    async def get(self) -> None:
        claims = await self.provider.userinfo.claims(self.request.headers.get("Authorization", ""), self.issuer())
        self.write_json(claims)

    async def post(self) -> None:
        await self.get()
