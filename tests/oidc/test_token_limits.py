"""The token endpoint's limits counted inside its grant's script: one round trip, the same refusals as before."""

from __future__ import annotations

import pytest

from oidc.clients import Client
from redis_map.provider_limits import ENDPOINT_CLIENT, ENDPOINT_IP, SECRET_FAILURES, TokenCount
from tests.oidc.conftest import code_for, parts, pkce, post_form, register
from tests.oidc.test_token import TOKEN, assert_oauth_error, redeem
from tests.redis_stats import command_calls
from tests.service import Answer, Instance

#: the address the tests' requests come from
IP = "127.0.0.1"


def counters(service: Instance, client: Client) -> TokenCount:
    count = parts(service).limits.token_request(IP, client.client_id)
    assert count is not None
    return count


async def grant_request(service: Instance, client: Client, secret: str, grant: str) -> tuple[dict[str, str], str]:
    """A good token request of ``grant`` for ``client`` (the form, and what it spends: its code or refresh token)."""
    code = await code_for(service, client)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uris[0]}
    if grant == "authorization_code":
        return form, code
    first = await post_form(service, TOKEN, form, auth=(client.client_id, secret))
    assert first.code == 200, first.body
    token = first.body["refresh_token"]
    return {"grant_type": "refresh_token", "refresh_token": token}, token


async def test_a_code_is_redeemed_and_its_request_counted_in_one_round_trip(provider: Instance) -> None:
    """The IP's and the client's counts and the look at the IP's failed secrets ride the redemption's script."""
    client, secret = await register(provider)
    count = counters(provider, client)
    code = await code_for(provider, client)
    warm = await redeem(provider, client.client_id, secret, await code_for(provider, client))  # scripts loaded
    assert warm.code == 200, warm.body
    before = await command_calls(provider.redis, "evalsha")
    answer = await redeem(provider, client.client_id, secret, code)
    assert answer.code == 200, answer.body
    # One script: the redemption with the limits in it (counted apart, they were two scripts of their own more).
    assert await command_calls(provider.redis, "evalsha") - before == 1
    ip_key, _, client_key = count.keys
    assert await provider.redis.get(ip_key) == "2" and await provider.redis.get(client_key) == "2"  # both requests
    assert await provider.redis.pttl(ip_key) > 0 and await provider.redis.pttl(client_key) > 0


@pytest.mark.parametrize("grant", ["authorization_code", "refresh_token"])
@pytest.mark.parametrize("limit", ["ip", "client"])
async def test_a_grant_past_a_limit_is_429_and_spends_nothing(provider: Instance, grant: str, limit: str) -> None:
    client, secret = await register(provider)
    assert secret is not None
    form, _ = await grant_request(provider, client, secret, grant)
    ip_key, _, client_key = counters(provider, client).keys
    key, at_limit = (ip_key, ENDPOINT_IP) if limit == "ip" else (client_key, ENDPOINT_CLIENT)
    await provider.redis.set(key, str(at_limit), px=30_000)

    refused = await post_form(provider, TOKEN, form, auth=(client.client_id, secret))
    assert_oauth_error(refused, 429, "temporarily_unavailable")
    assert 0 < int(refused.headers["Retry-After"]) <= 30

    await provider.redis.delete(key)  # the window over: the same code or token still works, once
    granted = await post_form(provider, TOKEN, form, auth=(client.client_id, secret))
    assert granted.code == 200, granted.body
    again = await post_form(provider, TOKEN, form, auth=(client.client_id, secret))
    assert_oauth_error(again, 400, "invalid_grant")


async def locked_out(service: Instance, client: Client) -> None:
    """``SECRET_FAILURES`` bad secrets for ``client`` from the tests' IP, each 401."""
    form = {"grant_type": "refresh_token", "refresh_token": "x"}
    for _ in range(SECRET_FAILURES):
        answer = await post_form(service, TOKEN, form, auth=(client.client_id, "wrong"))
        assert_oauth_error(answer, 401, "invalid_client")


@pytest.mark.parametrize("grant", ["authorization_code", "refresh_token"])
async def test_repeated_bad_secrets_refuse_the_good_secret_on_both_grants(provider: Instance, grant: str) -> None:
    client, secret = await register(provider)
    assert secret is not None
    form, _ = await grant_request(provider, client, secret, grant)
    await locked_out(provider, client)
    slowed = await post_form(provider, TOKEN, form, auth=(client.client_id, secret))
    assert_oauth_error(slowed, 429, "temporarily_unavailable")
    ip_key, failures_key, _ = counters(provider, client).keys
    assert int(await provider.redis.get(ip_key) or 0) < ENDPOINT_IP  # refused for the failed secrets, not the IP
    assert int(slowed.headers["Retry-After"]) > 0
    other, other_secret = await register(provider)  # locked out of that client only
    assert other_secret is not None
    other_form, _ = await grant_request(provider, other, other_secret, grant)
    assert (await post_form(provider, TOKEN, other_form, auth=(other.client_id, other_secret))).code == 200
    await provider.redis.delete(failures_key)
    assert (await post_form(provider, TOKEN, form, auth=(client.client_id, secret))).code == 200  # nothing spent


def refused_before_the_script(client: Client) -> dict[str, dict[str, str]]:
    """Requests a grant refuses before its script runs (no Redis of its own): malformed, or asking too much."""
    _, bad_verifier = pkce()
    return {
        "malformed code": {"grant_type": "authorization_code", "code": "nope", "redirect_uri": client.redirect_uris[0]},
        "bad verifier": {"grant_type": "authorization_code", "code": "a" * 22 + "." + "b" * 43,
                         "redirect_uri": client.redirect_uris[0], "code_verifier": bad_verifier[:10]},
        "malformed refresh token": {"grant_type": "refresh_token", "refresh_token": "nope"},
    }  # fmt: skip


async def test_requests_refused_before_the_script_are_counted_and_a_locked_out_ip_gets_429(provider: Instance) -> None:
    """A grant's early refusals count apart, so the limits hold whatever a client sends."""
    client, secret = await register(provider)
    assert secret is not None
    ip_key, _, client_key = counters(provider, client).keys
    cases = refused_before_the_script(client)
    answers: list[Answer] = []
    for form in cases.values():
        answers.append(await post_form(provider, TOKEN, form, auth=(client.client_id, secret)))
    assert [answer.code for answer in answers] == [400, 400, 400], [answer.body for answer in answers]
    counted = str(len(cases))
    assert await provider.redis.get(ip_key) == counted and await provider.redis.get(client_key) == counted

    await locked_out(provider, client)
    for name, form in cases.items():
        answer = await post_form(provider, TOKEN, form, auth=(client.client_id, secret))
        assert answer.code == 429, (name, answer.body)
        assert int(answer.headers["Retry-After"]) > 0


async def test_a_narrowed_refresh_past_the_ip_limit_is_429_and_refused_scopes_are_counted(provider: Instance) -> None:
    """The refresh that asks for a scope reads its grant first; asking for more than granted is refused before
    the script, and counted; past the limit either is 429."""
    client, secret = await register(provider)
    assert secret is not None
    form, _ = await grant_request(provider, client, secret, "refresh_token")
    ip_key, _, _ = counters(provider, client).keys
    counted = int(await provider.redis.get(ip_key) or 0)
    broader = await post_form(provider, TOKEN, {**form, "scope": "openid email"}, auth=(client.client_id, secret))
    assert_oauth_error(broader, 400, "invalid_scope")
    assert int(await provider.redis.get(ip_key) or 0) == counted + 1
    await provider.redis.set(ip_key, str(ENDPOINT_IP), px=30_000)
    for scope in ("openid", "openid email"):
        answer = await post_form(provider, TOKEN, {**form, "scope": scope}, auth=(client.client_id, secret))
        assert_oauth_error(answer, 429, "temporarily_unavailable")


async def test_revocation_and_introspection_still_count_their_ip_not_the_client(provider: Instance) -> None:
    client, secret = await register(provider)
    assert secret is not None
    ip_key, _, client_key = counters(provider, client).keys
    for path in ("/oauth/revoke", "/oauth/introspect"):
        answer = await post_form(provider, path, {"token": "x"}, auth=(client.client_id, secret))
        assert answer.code == 200, answer.body
    assert await provider.redis.get(ip_key) == "2" and await provider.redis.get(client_key) is None
    await provider.redis.set(ip_key, str(ENDPOINT_IP), px=30_000)
    refused = await post_form(provider, "/oauth/revoke", {"token": "x"}, auth=(client.client_id, secret))
    assert_oauth_error(refused, 429, "temporarily_unavailable")
