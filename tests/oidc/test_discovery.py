"""Discovery, the JWK Set, and the first-party login token checked through them by another library."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt as pyjwt

from login.models import Identity
from oidc.key_set import SigningKey
from oidc.keys import JWKS_MAX_AGE
from tests.conftest import MakeInstance
from tests.service import Instance


async def login_token(service: Instance, user: str = "alice-token") -> str:
    """A whole first-party login; the login token ``/token`` hands out."""
    session = await service.new_session()
    await service.approve(session["uuid"], user)
    confirmed = await service.wait(session["cursor"], status=1)
    token = await service.post("/token", {"cursor": session["cursor"], "code": confirmed.body["code"]})
    assert token.code == 200, token.body
    return str(token.body["token"])


async def test_discovery_names_the_configured_issuer_and_its_keys(make_instance: MakeInstance) -> None:
    service = await make_instance(issuer="https://login.example.com")
    answer = await service.request("GET", "/.well-known/openid-configuration")
    assert answer.code == 200
    document = answer.body
    assert document["issuer"] == "https://login.example.com"
    assert document["jwks_uri"] == "https://login.example.com/jwks.json"
    assert document["response_types_supported"] == ["code"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Cache-Control"].startswith("public, max-age=")


async def test_without_an_issuer_it_is_the_url_the_request_reached(service: Instance) -> None:
    answer = await service.request("GET", "/.well-known/openid-configuration", headers={"Host": "sso.example.org:8443"})
    assert answer.body["issuer"] == "http://sso.example.org:8443"
    assert answer.headers["Vary"] == "Host"
    forged = await service.request("GET", "/.well-known/openid-configuration", headers={"Host": "bad_host.example"})
    assert forged.code == 400
    assert forged.body["error"] == "invalid_request" and forged.body["error_description"]


async def test_the_public_url_is_the_default_issuer(make_instance: MakeInstance) -> None:
    service = await make_instance(public_url="https://qr.example.com")
    answer = await service.request("GET", "/.well-known/openid-configuration")
    assert answer.body["issuer"] == "https://qr.example.com"


async def test_jwks_publishes_only_public_keys(service: Instance) -> None:
    for path in ("/jwks.json", "/.well-known/jwks.json"):
        answer = await service.request("GET", path)
        assert answer.code == 200
        [key] = answer.body["keys"]
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert answer.headers["Cache-Control"] == f"public, max-age={JWKS_MAX_AGE}"


async def test_wrong_methods_get_an_oauth_error(service: Instance) -> None:
    for path in ("/jwks.json", "/.well-known/openid-configuration"):
        answer = await service.request("POST", path, raw=b"x=1")
        assert answer.code == 405
        assert answer.body["error"] == "invalid_request"
        assert answer.headers["Cache-Control"] == "no-store"


async def test_the_login_token_is_rs256_and_checks_with_the_jwks_in_another_library(
    make_instance: MakeInstance,
) -> None:
    service = await make_instance(issuer="https://login.example.com")
    token = await login_token(service)
    claims = await asyncio.to_thread(verify_with_pyjwt, f"{service.base_url}/jwks.json", token)
    assert claims["iss"] == "https://login.example.com" and claims["sub"] == "alice"
    assert pyjwt.get_unverified_header(token)["typ"] == "login+jwt"
    me = await service.request("GET", "/me", headers={"Authorization": f"Bearer {token}"})
    assert me.code == 200 and me.body["user"]["sub"] == "alice"


def verify_with_pyjwt(jwks_url: str, token: str) -> dict[str, Any]:
    """What any site does with the login token: the key from the JWKS by kid, then the signature and claims."""
    key = pyjwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(token)
    return dict(
        pyjwt.decode(
            token, key.key, algorithms=["RS256"], issuer="https://login.example.com", options={"require": ["exp"]}
        )
    )


async def test_login_tokens_live_through_a_key_rotation(service: Instance) -> None:
    keys = service.services.provider.keys  # type: ignore[union-attr]
    before = await login_token(service)
    old_kid = pyjwt.get_unverified_header(before)["kid"]

    rotated = SigningKey.generate(now=keys.clock())  # signing at once, as after a compromise
    await service.services.provider.keys._source.add(rotated.kid, rotated.record())  # type: ignore[union-attr]
    await keys.refresh()

    after = await login_token(service)
    assert pyjwt.get_unverified_header(after)["kid"] == rotated.kid
    published = (await service.request("GET", "/jwks.json")).body["keys"]
    assert {key["kid"] for key in published} == {old_kid, rotated.kid}
    for token in (before, after):
        me = await service.request("GET", "/me", headers={"Authorization": f"Bearer {token}"})
        assert me.code == 200, me.body


async def test_an_id_token_shaped_jwt_is_no_login_token(service: Instance) -> None:
    keys = service.services.provider.keys  # type: ignore[union-attr]
    now = int(keys.clock())
    other_type = keys.sign({"iss": "qrlogin", "sub": "alice", "iat": now, "exp": now + 60}, typ="JWT")
    me = await service.request("GET", "/me", headers={"Authorization": f"Bearer {other_type}"})
    assert me.code == 401
    assert service.tokens.issue(Identity(sub="bob"))  # the same keys sign login tokens
