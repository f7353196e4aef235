"""The token endpoint: codes once, PKCE, client authentication, refresh rotation, reuse revoking, bad input."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from oidc.grant import parse_token
from tests.oidc.conftest import ISSUER, REDIRECT_URI, code_for, fetch, parts, pkce, post_form, register
from tests.service import Answer, Instance

TOKEN = "/oauth/token"


async def redeem(service: Instance, client_id: str, secret: str | None, code: str, **extra: str) -> Answer:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    if secret is None:
        return await post_form(service, TOKEN, {**form, "client_id": client_id})
    return await post_form(service, TOKEN, form, auth=(client_id, secret))


async def userinfo(service: Instance, access_token: str) -> Answer:
    return await fetch(service, "GET", "/userinfo", headers={"Authorization": f"Bearer {access_token}"})


async def jwks(service: Instance) -> KeySet:
    return KeySet.import_key_set((await service.request("GET", "/jwks.json")).body)


def assert_oauth_error(answer: Answer, status: int, error: str) -> None:
    assert answer.code == status, (answer.code, answer.body)
    assert answer.body["error"] == error and answer.body["error_description"], answer.body
    assert answer.headers["Cache-Control"] == "no-store"


async def test_a_code_for_tokens_with_pkce_and_a_secret(provider: Instance) -> None:
    client, secret = await register(provider)
    verifier, challenge = pkce()
    code = await code_for(provider, client, challenge=challenge)
    answer = await redeem(provider, client.client_id, secret, code, code_verifier=verifier)
    assert answer.code == 200, answer.body
    body = answer.body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600 and body["scope"] == "openid profile"
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Pragma"] == "no-cache"
    assert parse_token(body["refresh_token"]) == parse_token(code)  # one grant

    keys = await jwks(provider)
    access = jwt.decode(body["access_token"], keys, algorithms=["RS256"])
    assert access.header["typ"] == "at+jwt"  # RFC 9068
    claims = access.claims
    assert claims["iss"] == ISSUER and claims["aud"] == ISSUER and claims["sub"] == "demo:bob"
    assert claims["client_id"] == client.client_id and claims["scope"] == "openid profile"
    assert claims["exp"] - claims["iat"] == 600 and claims["jti"] and claims["auth_time"] <= claims["iat"]

    id_token = jwt.decode(body["id_token"], keys, algorithms=["RS256"]).claims
    assert id_token["iss"] == ISSUER and id_token["aud"] == client.client_id and id_token["nonce"] == "n-1"
    assert id_token["sub"] == "demo:bob" and id_token["name"] == "bob" and id_token["at_hash"]

    me = await userinfo(provider, body["access_token"])
    assert me.code == 200 and me.body == {"sub": "demo:bob", "name": "bob"}


async def test_client_secret_post_and_a_public_client_with_none(provider: Instance) -> None:
    client, secret = await register(provider)
    code = await code_for(provider, client)
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
        "client_id": client.client_id, "client_secret": secret or "",
    }  # fmt: skip
    assert (await post_form(provider, TOKEN, form)).code == 200

    public, _ = await register(provider, public=True)
    verifier, challenge = pkce()
    code = await code_for(provider, public, challenge=challenge)
    answer = await redeem(provider, public.client_id, None, code, code_verifier=verifier)
    assert answer.code == 200 and answer.body["refresh_token"]


@pytest.mark.parametrize(
    "how",
    ["wrong secret", "no secret", "unknown client", "secret for a public client", "basic for another client"],
)
async def test_client_authentication_failures_are_401_with_a_challenge(provider: Instance, how: str) -> None:
    client, secret = await register(provider)
    public, _ = await register(provider, public=True)
    code = await code_for(provider, client)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    answer = {
        "wrong secret": lambda: post_form(provider, TOKEN, form, auth=(client.client_id, "nope")),
        "no secret": lambda: post_form(provider, TOKEN, {**form, "client_id": client.client_id}),
        "unknown client": lambda: post_form(provider, TOKEN, form, auth=("nobody", secret or "")),
        "secret for a public client": lambda: post_form(provider, TOKEN, form, auth=(public.client_id, "x")),
        "basic for another client": lambda: post_form(
            provider, TOKEN, {**form, "client_id": public.client_id}, auth=(client.client_id, secret or "")
        ),
    }[how]
    refused = await answer()
    assert_oauth_error(refused, 401, "invalid_client")
    assert refused.headers["WWW-Authenticate"].startswith("Basic ")
    assert (await redeem(provider, client.client_id, secret, code)).code == 200  # the code survived


async def test_two_authentication_methods_at_once_are_refused(provider: Instance) -> None:
    client, secret = await register(provider)
    form = {"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI,
            "client_secret": secret or ""}  # fmt: skip
    assert_oauth_error(await post_form(provider, TOKEN, form, auth=(client.client_id, secret or "")), 400,
                       "invalid_request")  # fmt: skip


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("wrong verifier", "invalid_grant"),
        ("no verifier", "invalid_grant"),
        ("malformed verifier", "invalid_request"),
        ("wrong redirect_uri", "invalid_grant"),
        ("another client's code", "invalid_grant"),
        ("a forged code", "invalid_grant"),
        ("not a code", "invalid_grant"),
    ],
)
async def test_codes_are_bound_to_client_redirect_uri_and_pkce(provider: Instance, case: str, error: str) -> None:
    client, secret = await register(provider)
    other, other_secret = await register(provider)
    verifier, challenge = pkce()
    code = await code_for(provider, client, challenge=challenge)
    grant_id = parse_token(code)
    attempt = {
        "wrong verifier": lambda: redeem(provider, client.client_id, secret, code, code_verifier=pkce()[0]),
        "no verifier": lambda: redeem(provider, client.client_id, secret, code),
        "malformed verifier": lambda: redeem(provider, client.client_id, secret, code, code_verifier="short"),
        "wrong redirect_uri": lambda: redeem(
            provider, client.client_id, secret, code, code_verifier=verifier, redirect_uri=REDIRECT_URI + "/x"
        ),
        "another client's code": lambda: redeem(provider, other.client_id, other_secret, code, code_verifier=verifier),
        "a forged code": lambda: redeem(provider, client.client_id, secret, f"{grant_id}.{'A' * 43}"),
        "not a code": lambda: redeem(provider, client.client_id, secret, "abc"),
    }[case]
    assert_oauth_error(await attempt(), 400, error)
    # None of these spends the code: the right request still gets its tokens.
    assert (await redeem(provider, client.client_id, secret, code, code_verifier=verifier)).code == 200


async def test_a_verifier_for_a_code_asked_without_a_challenge_is_a_downgrade(provider: Instance) -> None:
    client, secret = await register(provider)
    code = await code_for(provider, client)  # no code_challenge
    assert_oauth_error(await redeem(provider, client.client_id, secret, code, code_verifier=pkce()[0]), 400,
                       "invalid_grant")  # fmt: skip


async def test_a_public_client_cannot_redeem_without_its_verifier(provider: Instance) -> None:
    public, _ = await register(provider, public=True)
    _, challenge = pkce()
    code = await code_for(provider, public, challenge=challenge)
    assert_oauth_error(await redeem(provider, public.client_id, None, code), 400, "invalid_grant")


async def test_an_expired_code_is_refused(provider: Instance) -> None:
    client, secret = await register(provider)
    code = await code_for(provider, client)
    grant_id = parse_token(code)
    assert grant_id is not None
    # The clock cannot be moved: the code's deadline is, to a moment ago (its key's TTL would do the same).
    key = provider.store.keys.grant(grant_id)
    await provider.redis.hset(key, "code_expires_ms", str(int(time.time() * 1000) - 1))
    answer = await redeem(provider, client.client_id, secret, code)
    assert_oauth_error(answer, 400, "invalid_grant")
    assert "expired" in answer.body["error_description"]


async def test_a_second_use_of_a_code_fails_and_revokes_what_the_first_issued(provider: Instance) -> None:
    client, secret = await register(provider)
    code = await code_for(provider, client)
    first = (await redeem(provider, client.client_id, secret, code)).body
    assert (await userinfo(provider, first["access_token"])).code == 200

    again = await redeem(provider, client.client_id, secret, code)
    assert_oauth_error(again, 400, "invalid_grant")
    refused = await userinfo(provider, first["access_token"])
    assert refused.code == 401 and "revoked" in refused.body["error_description"]
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert_oauth_error(await post_form(provider, TOKEN, refresh, auth=(client.client_id, secret or "")), 400,
                       "invalid_grant")  # fmt: skip
    # Each written once, by the script that made the change: the code, its redemption, its replay.
    grant_id = parse_token(code)
    audited = [entry for entry in await provider.audit.tail(50) if entry.fields.get("grant") == grant_id]
    assert [entry.outcome for entry in audited] == ["code_issued", "token_issued", "code_reused"]
    assert audited[1].fields == {"grant": grant_id, "client": client.client_id, "user": "demo:bob", "ip": "127.0.0.1"}
    assert await provider.metric("qrlogin_oidc_events_total", event="code_reused") == 1


async def test_refresh_rotates_and_a_rotated_token_revokes_its_family(provider: Instance) -> None:
    client, secret = await register(provider)
    first = (await redeem(provider, client.client_id, secret, await code_for(provider, client))).body
    auth = (client.client_id, secret or "")

    second = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                             auth=auth)  # fmt: skip
    assert second.code == 200, second.body
    rotated = second.body
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"] != first["access_token"]
    id_token = jwt.decode(rotated["id_token"], await jwks(provider), algorithms=["RS256"]).claims
    assert "nonce" not in id_token and id_token["aud"] == client.client_id

    narrowed = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                               rotated["refresh_token"], "scope": "openid"}, auth=auth)  # fmt: skip
    assert narrowed.code == 200 and narrowed.body["scope"] == "openid" and "name" not in jwt.decode(
        narrowed.body["id_token"], await jwks(provider), algorithms=["RS256"]).claims  # fmt: skip
    broader = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                              narrowed.body["refresh_token"], "scope": "openid email"}, auth=auth)  # fmt: skip
    assert_oauth_error(broader, 400, "invalid_scope")

    # The first refresh token again: someone else holds the family.  All of it is revoked.
    reused = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                             first["refresh_token"]}, auth=auth)  # fmt: skip
    assert_oauth_error(reused, 400, "invalid_grant")
    latest = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                             narrowed.body["refresh_token"]}, auth=auth)  # fmt: skip
    assert_oauth_error(latest, 400, "invalid_grant")
    for access in (first["access_token"], rotated["access_token"], narrowed.body["access_token"]):
        assert (await userinfo(provider, access)).code == 401
    grant_id = parse_token(first["refresh_token"])
    audited = [entry.outcome for entry in await provider.audit.tail(50) if entry.fields.get("grant") == grant_id]
    assert audited == ["code_issued", "token_issued", "token_refreshed", "token_refreshed", "refresh_reused"]
    assert await provider.metric("qrlogin_oidc_tokens_total", grant="refresh_token") == 2
    assert await provider.metric("qrlogin_oidc_tokens_total", grant="authorization_code") == 1


async def test_a_refresh_token_is_bound_to_its_client(provider: Instance) -> None:
    client, secret = await register(provider)
    other, other_secret = await register(provider)
    first = (await redeem(provider, client.client_id, secret, await code_for(provider, client))).body
    stolen = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                             first["refresh_token"]}, auth=(other.client_id, other_secret or ""))  # fmt: skip
    assert_oauth_error(stolen, 400, "invalid_grant")
    mine = await post_form(provider, TOKEN, {"grant_type": "refresh_token", "refresh_token":
                           first["refresh_token"]}, auth=(client.client_id, secret or ""))  # fmt: skip
    assert mine.code == 200


async def test_a_removed_client_can_use_nothing_it_was_given(provider: Instance) -> None:
    client, secret = await register(provider)
    first = (await redeem(provider, client.client_id, secret, await code_for(provider, client))).body
    await parts(provider).clients.remove(client.client_id)
    assert (await userinfo(provider, first["access_token"])).code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    assert_oauth_error(await post_form(provider, TOKEN, refresh, auth=(client.client_id, secret or "")), 401,
                       "invalid_client")  # fmt: skip


def bad_inputs(client_id: str, secret: str) -> dict[str, tuple[dict[str, Any], int, str]]:
    """name -> (request, status, error)."""
    form = "application/x-www-form-urlencoded"
    return {
        "json body": ({"body": b'{"grant_type":"refresh_token"}', "type": "application/json"}, 400, "invalid_request"),
        "text body": ({"body": b"grant_type=refresh_token", "type": "text/plain"}, 400, "invalid_request"),
        "repeated parameter": ({"body": b"grant_type=refresh_token&grant_type=refresh_token", "type": form}, 400,
                               "invalid_request"),
        "not utf-8": ({"body": b"grant_type=%ff%fe", "type": form}, 400, "invalid_request"),
        "oversized value": ({"body": b"grant_type=refresh_token&refresh_token=" + b"a" * 5000, "type": form}, 400,
                            "invalid_request"),
        # Refused by the HTTP server itself (runtime/http.py) before any handler: its JSON 413 for every path.
        "oversized body": ({"body": b"x=" + b"a" * 20_000, "type": form}, 413, "body_too_large"),
        "control characters": ({"body": b"grant_type=refresh%00token", "type": form}, 400, "invalid_request"),
        "no grant type": ({"body": b"code=x", "type": form}, 400, "invalid_request"),
        "unknown grant type": ({"body": b"grant_type=password&username=a&password=b", "type": form}, 400,
                               "unsupported_grant_type"),
        "implicit grant type": ({"body": b"grant_type=client_credentials", "type": form}, 400,
                                "unsupported_grant_type"),
        "missing code": ({"body": f"grant_type=authorization_code&client_id={client_id}&client_secret={secret}"
                          f"&redirect_uri=x".encode(), "type": form}, 400, "invalid_request"),
        "missing refresh token": ({"body": f"grant_type=refresh_token&client_id={client_id}&client_secret={secret}"
                                   .encode(), "type": form}, 400, "invalid_request"),
        "malformed basic": ({"body": b"grant_type=refresh_token&refresh_token=x", "type": form,
                             "authorization": "Basic !!!"}, 401, "invalid_client"),
        "bearer instead of basic": ({"body": b"grant_type=refresh_token&refresh_token=x", "type": form,
                                     "authorization": "Bearer abc"}, 401, "invalid_client"),
    }  # fmt: skip


async def test_bad_input_gets_a_clear_oauth_error_never_a_500(provider: Instance) -> None:
    client, secret = await register(provider)
    for name, (request, status, error) in bad_inputs(client.client_id, secret or "").items():
        headers = {"Content-Type": request["type"]} if request["type"] else {}
        if "authorization" in request:
            headers["Authorization"] = request["authorization"]
        answer = await fetch(provider, "POST", TOKEN, body=request["body"], headers=headers)
        assert answer.code == status, (name, answer.code, answer.body)
        assert answer.body["error"] == error, (name, answer.body)
    for method in ("GET", "PUT"):
        answer = await fetch(provider, method, TOKEN, body=b"" if method == "PUT" else None)
        assert answer.code == 405 and answer.body["error"] == "invalid_request"


async def test_repeated_bad_secrets_are_slowed(provider: Instance) -> None:
    client, secret = await register(provider)
    form = {"grant_type": "refresh_token", "refresh_token": "x"}
    for _ in range(10):
        assert (await post_form(provider, TOKEN, form, auth=(client.client_id, "wrong"))).code == 401
    slowed = await post_form(provider, TOKEN, form, auth=(client.client_id, secret or ""))
    assert slowed.code == 429 and slowed.body["error"] == "temporarily_unavailable"
    assert int(slowed.headers["Retry-After"]) > 0
