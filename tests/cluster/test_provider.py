"""The OIDC provider on a real 3-master Redis Cluster: what lives in other slots than a grant or a session is
counted, read and audited apart, by the caller."""

from __future__ import annotations

import secrets
import time

import pytest

from login.errors import InvalidGrant, RateLimited
from login.models import Cursor, Identity, Requester, Status
from oidc.authorization import RequestGone
from oidc.authorize import Parameters
from oidc.grant import Grant, new_grant_id, new_token, token_hash
from oidc.grants.form import Form
from redis_map import connect
from redis_map.grants import RedisGrantStore
from redis_map.keys import KeySpace
from redis_map.provider_limits import ENDPOINT_IP, ProviderLimits
from tests.cluster.conftest import Cluster
from tests.service import Instance


async def test_an_authorization_pages_session_on_a_cluster_carries_its_request(
    cluster_instances: list[Instance],
) -> None:
    """The request is in another slot than the session: read before the creation script, copied after it."""
    service = cluster_instances[0]
    provider = service.services.provider
    assert provider is not None
    client, _ = await provider.clients.register(name="Acme", redirect_uris=["https://rp.example/cb"])
    client_id = client.client_id
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": "https://rp.example/cb",
              "scope": "openid", "code_challenge": "c" * 43, "code_challenge_method": "S256"}  # fmt: skip
    request_id, request = await provider.authorizations.start(Parameters({k: [v] for k, v in params.items()}))
    requester = Requester(ip="192.0.2.1", user_agent="Test", created_at=0.0, reached_at=service.base_url)
    session = await provider.authorizations.new_login(request_id, requester)
    assert await provider.authorizations.asked_by(session.uuid) == request
    assert (await service.store.read(session.uuid)).status is Status.WAITING
    await service.redis.delete(service.store.keys.authorization_request(request_id))
    with pytest.raises(RequestGone):
        await provider.authorizations.new_login(request_id, requester)


async def test_an_authorization_hand_back_on_a_cluster_exchanges_once_and_its_caller_audits_it(
    cluster_instances: list[Instance],
) -> None:
    """The exchange's script gets no audit keys there (other slots): the hand-back records the exchange, once; a
    retry gets the same redirect, a wrong cursor nothing."""
    service, app_side = cluster_instances
    provider = service.services.provider
    assert provider is not None
    client, _ = await provider.clients.register(name="Acme", redirect_uris=["https://rp.example/cb"])
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": "https://rp.example/cb",
              "scope": "openid", "state": "s-1", "code_challenge": "c" * 43,
              "code_challenge_method": "S256"}  # fmt: skip
    request_id, _ = await provider.authorizations.start(Parameters({k: [v] for k, v in params.items()}))
    requester = Requester(ip="192.0.2.1", user_agent="Test", created_at=0.0, reached_at=service.base_url)
    session = await provider.authorizations.new_login(request_id, requester)
    for action in ("/scan", "/confirm"):
        assert (await app_side.post(action, {"uuid": session.uuid}, user="alice-token")).code == 200
    code = (await service.store.read_for_cursor(session.cursor)).code
    assert code is not None
    with pytest.raises(InvalidGrant):
        await provider.authorizations.complete(Cursor(session.uuid, "B" * 43), code, "192.0.2.1", "https://i")
    back = await provider.authorizations.complete(session.cursor, code, "192.0.2.1", "https://i")
    assert back.startswith("https://rp.example/cb?") and "state=s-1" in back
    assert await provider.authorizations.complete(session.cursor, code, "192.0.2.1", "https://i") == back
    mine = [e.outcome for e in await service.audit.tail(100) if e.fields.get("uuid") == session.uuid]
    assert mine == ["confirmed", "exchanged"]


async def test_the_token_endpoint_on_a_cluster_counts_its_request_before_the_script(
    cluster_instances: list[Instance],
) -> None:
    """The counters are in other slots than the grant: counted apart, first; past a limit 429, the code unspent."""
    provider = cluster_instances[0].services.provider
    assert provider is not None
    client, secret = await provider.clients.register(name="Acme", redirect_uris=["https://rp.example/cb"])
    assert secret is not None
    user = Identity(sub="bob", name="Bob", picture="")
    grant = Grant(new_grant_id(), client.client_id, "https://rp.example/cb", "openid", user, 0, "https://x.example")
    code = new_token(grant.grant_id)
    grants = provider.token_endpoint.context.grants
    assert isinstance(grants, RedisGrantStore)
    await grants.issue_code(grant, token_hash(code), int(time.time() * 1000) + 60_000, 60_000, "192.0.2.7")
    form = Form({"grant_type": "authorization_code", "code": code, "redirect_uri": "https://rp.example/cb",
                 "client_id": client.client_id, "client_secret": secret})  # fmt: skip
    count = provider.limits.token_request("192.0.2.7", client.client_id)
    assert count is not None
    ip_key = count.keys[0]
    redis = cluster_instances[0].redis
    await redis.set(ip_key, str(ENDPOINT_IP), px=30_000)
    with pytest.raises(RateLimited):
        await provider.token_endpoint.token(form, "", "192.0.2.7")
    await redis.delete(ip_key)
    answer = await provider.token_endpoint.token(form, "", "192.0.2.7")
    assert answer["token_type"] == "Bearer"
    assert await redis.get(ip_key) == "1" and await redis.get(count.keys[2]) == "2"


async def test_grant_scripts_on_a_cluster_leave_the_audit_entry_to_their_caller(cluster: Cluster) -> None:
    """The audit stream and the token endpoint's counters live in other slots than a grant: the scripts must not
    touch them, and say so (the token endpoint then counts its request apart, before the script)."""
    redis = connect(cluster.url)
    keys = KeySpace(f"test-{secrets.token_hex(6)}")
    grants = RedisGrantStore(redis, keys)
    assert not grants.counts_limits
    count = ProviderLimits(redis, keys).token_request("127.0.0.1", "acme")
    assert count is not None
    user = Identity(sub="bob", name="Bob", picture="")
    grant = Grant(new_grant_id(), "acme", "https://rp.example/cb", "openid", user, 0, "https://login.example.com")
    code = new_token(grant.grant_id)
    now_ms = int(time.time() * 1000)
    try:
        assert not await grants.issue_code(grant, token_hash(code), now_ms + 60_000, 60_000, "127.0.0.1")
        changed = await grants.redeem(
            grant.grant_id, code_hash=token_hash(code), client_id="acme", redirect_uri="https://rp.example/cb",
            challenge="", now_ms=now_ms, refresh_hash="r", grant_ttl_ms=60_000, retention_ms=60_000, ip="127.0.0.1",
            count=count,
        )  # fmt: skip
        assert changed.outcome == "ok" and not changed.audited and not count.counted
        assert await redis.exists(keys.audit_stream) == 0
        assert await redis.exists(*count.keys) == 0
    finally:
        await redis.delete(keys.grant(grant.grant_id))
        await redis.aclose()
