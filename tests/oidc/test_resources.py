"""UserInfo, revocation and introspection: what an access token unlocks, and how it stops doing so."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt

from login.models import Identity
from oidc.key_set import SigningKey
from tests.oidc.conftest import ISSUER, code_for, fetch, parts, post_form, register
from tests.oidc.test_token import TOKEN, assert_oauth_error, redeem, userinfo
from tests.service import Instance


async def tokens_for(service: Instance, scope: str = "openid profile") -> tuple[str, str, dict[str, str]]:
    client, secret = await register(service)
    answer = await redeem(service, client.client_id, secret, await code_for(service, client, scope=scope))
    assert answer.code == 200, answer.body
    return client.client_id, secret or "", answer.body


async def test_userinfo_answers_sub_and_with_profile_name_and_picture(make_instance: object) -> None:
    from auth import UserInfoClient  # a real auth server's users have pictures

    service = await make_instance(issuer=ISSUER)  # type: ignore[operator]
    assert isinstance(service.authenticator, UserInfoClient)
    client, secret = await register(service)
    code = await code_for(service, client, user="Bearer alice-token")
    body = (await redeem(service, client.client_id, secret, code)).body
    me = await userinfo(service, body["access_token"])
    assert me.body["sub"] == "alice" and me.body["name"] == "Alice" and me.body["picture"].startswith("https://")
    posted = await fetch(service, "POST", "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert posted.code == 200 and posted.body == me.body

    code = await code_for(service, client, scope="openid", user="Bearer alice-token")
    only_sub = (await redeem(service, client.client_id, secret, code)).body
    assert (await userinfo(service, only_sub["access_token"])).body == {"sub": "alice"}


async def test_userinfo_without_openid_is_insufficient_scope(provider: Instance) -> None:
    _, _, body = await tokens_for(provider, scope="profile")
    assert "id_token" not in body  # plain OAuth 2.0: no openid, no ID token
    refused = await userinfo(provider, body["access_token"])
    assert refused.code == 403 and refused.body["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_userinfo_refuses_every_token_that_is_not_a_good_access_token_of_ours(provider: Instance) -> None:
    _, _, body = await tokens_for(provider)
    access = body["access_token"]
    header, payload, signature = access.split(".")
    claims = jwt.decode(access, parts(provider).keys.keys.verifier(time.time())).claims
    keys = parts(provider).keys
    other = SigningKey.generate(now=time.time())
    kid = keys.keys.signer(time.time()).kid  # type: ignore[union-attr]
    now = int(time.time())
    refused = {
        "tampered": f"{header}.{b64({**claims, 'sub': 'demo:mallory'})}.{signature}",
        "other key": jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt"}, claims, other.key),
        "alg none": f"{b64({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}.{payload}.",
        "an ID token": body["id_token"],
        "a login token": provider.tokens.issue(Identity(sub="demo:bob")),
        "expired": keys.sign({**claims, "exp": now - 60, "iat": now - 700}, typ="at+jwt"),
        "another issuer": keys.sign({**claims, "iss": "https://evil.example"}, typ="at+jwt"),
        "another audience": keys.sign({**claims, "aud": "https://api.example"}, typ="at+jwt"),
        "an unknown grant": keys.sign({**claims, "gid": "A" * 22}, typ="at+jwt"),
        "the refresh token": body["refresh_token"],
        "garbage": "garbage",
    }  # fmt: skip
    for name, token in refused.items():
        answer = await userinfo(provider, token)
        assert answer.code == 401, (name, answer.body)
        assert answer.body["error"] == "invalid_token", name
        assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="qrlogin", error="invalid_token"'), name
    for header_value in ("", "Basic abc", "Bearer", "Bearer a b", "Bearer " + "a" * 9000):
        answer = await fetch(provider, "GET", "/userinfo", headers={"Authorization": header_value} if header_value
                             else None)  # fmt: skip
        assert answer.code == 401, header_value
        assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="qrlogin"'), header_value


async def test_tokens_stay_good_through_a_key_rotation(provider: Instance) -> None:
    client_id, secret, before = await tokens_for(provider)
    keys = parts(provider).keys
    rotated = SigningKey.generate(now=time.time())
    await keys._source.add(rotated.kid, rotated.record())  # as 'keys rotate --activate-in 0' does
    await keys.refresh()
    refreshed = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                                before["refresh_token"]}, auth=(client_id, secret))  # fmt: skip
    after = refreshed.body
    assert jwt.decode(after["access_token"], keys.keys.verifier(time.time())).header["kid"] == rotated.kid
    for access in (before["access_token"], after["access_token"]):
        assert (await userinfo(provider, access)).code == 200


async def test_revoking_a_refresh_token_revokes_its_whole_login(provider: Instance) -> None:
    client_id, secret, body = await tokens_for(provider)
    answer = await post_form(provider, "/oauth/revoke", {"token": body["refresh_token"],
                             "token_type_hint": "refresh_token"}, auth=(client_id, secret))  # fmt: skip
    assert answer.code == 200 and answer.body == b""
    assert answer.headers["Cache-Control"] == "no-store"
    assert (await userinfo(provider, body["access_token"])).code == 401
    refresh = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                              body["refresh_token"]}, auth=(client_id, secret))  # fmt: skip
    assert_oauth_error(refresh, 400, "invalid_grant")
    assert "token_revoked" in [entry.outcome for entry in await provider.audit.tail(10)]


async def test_revoking_an_access_token_revokes_it_alone(provider: Instance) -> None:
    client_id, secret, body = await tokens_for(provider)
    refreshed = (await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                 body["refresh_token"]}, auth=(client_id, secret))).body  # fmt: skip
    answer = await post_form(provider, "/oauth/revoke", {"token": body["access_token"]}, auth=(client_id, secret))
    assert answer.code == 200
    assert (await userinfo(provider, body["access_token"])).code == 401
    assert (await userinfo(provider, refreshed["access_token"])).code == 200


async def test_revocation_answers_200_for_unknown_and_foreign_tokens_and_leaves_them(provider: Instance) -> None:
    _, _, body = await tokens_for(provider)
    other_id, other_secret, _ = await tokens_for(provider)
    for token in (body["refresh_token"], body["access_token"], "garbage", "A" * 22 + "." + "B" * 43):
        answer = await post_form(provider, "/oauth/revoke", {"token": token}, auth=(other_id, other_secret))
        assert answer.code == 200
    assert (await userinfo(provider, body["access_token"])).code == 200  # not the other client's to revoke


async def test_revocation_refuses_bad_requests(provider: Instance) -> None:
    client_id, secret, body = await tokens_for(provider)
    assert_oauth_error(await post_form(provider, "/oauth/revoke", {"token": body["refresh_token"]}), 401,
                       "invalid_client")  # fmt: skip
    assert_oauth_error(await post_form(provider, "/oauth/revoke", {}, auth=(client_id, secret)), 400,
                       "invalid_request")  # fmt: skip
    repeated = [("token", "a"), ("token", "b")]
    assert_oauth_error(await post_form(provider, "/oauth/revoke", repeated, auth=(client_id, secret)), 400,
                       "invalid_request")  # fmt: skip
    json_body = await fetch(provider, "POST", "/oauth/revoke", body=b'{"token": "x"}',
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert_oauth_error(json_body, 400, "invalid_request")


async def test_introspection_tells_a_resource_server_what_a_token_is(provider: Instance) -> None:
    client_id, secret, body = await tokens_for(provider)
    resource_server, rs_secret = await register(provider, name="Acme API")
    rs = (resource_server.client_id, rs_secret or "")

    active = await post_form(provider, "/oauth/introspect", {"token": body["access_token"]}, auth=rs)
    assert active.code == 200, active.body
    assert active.body["active"] is True and active.body["sub"] == "demo:bob" and active.body["client_id"] == client_id
    assert (
        active.body["scope"] == "openid profile" and active.body["iss"] == ISSUER and active.body["exp"] > time.time()
    )
    refresh = await post_form(provider, "/oauth/introspect", {"token": body["refresh_token"]}, auth=rs)
    assert refresh.body["active"] is True and refresh.body["token_type"] == "refresh_token"

    await post_form(provider, "/oauth/revoke", {"token": body["refresh_token"]}, auth=(client_id, secret))
    for token in (body["access_token"], body["refresh_token"], body["id_token"], "garbage"):
        inactive = await post_form(provider, "/oauth/introspect", {"token": token}, auth=rs)
        assert inactive.code == 200 and inactive.body == {"active": False}, token


@pytest.mark.parametrize("who", ["nobody", "a public client", "a wrong secret"])
async def test_introspection_needs_a_confidential_client(provider: Instance, who: str) -> None:
    _, _, body = await tokens_for(provider)
    public, _ = await register(provider, public=True)
    confidential, _ = await register(provider)
    form = {"token": body["access_token"]}
    answer = {
        "nobody": lambda: post_form(provider, "/oauth/introspect", form),
        "a public client": lambda: post_form(provider, "/oauth/introspect", {**form, "client_id": public.client_id}),
        "a wrong secret": lambda: post_form(provider, "/oauth/introspect", form, auth=(confidential.client_id, "x")),
    }[who]
    assert_oauth_error(await answer(), 401, "invalid_client")


async def test_discovery_lists_every_endpoint(provider: Instance) -> None:
    document = (await provider.request("GET", "/.well-known/openid-configuration")).body
    assert document["token_endpoint"] == ISSUER + "/oauth/token"
    assert document["userinfo_endpoint"] == ISSUER + "/userinfo"
    assert document["revocation_endpoint"] == ISSUER + "/oauth/revoke"
    assert document["introspection_endpoint"] == ISSUER + "/oauth/introspect"
    assert document["authorization_endpoint"] == ISSUER + "/authorize"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert set(document["grant_types_supported"]) == {"authorization_code", "refresh_token"}
