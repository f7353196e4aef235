"""On a real 3-master Redis Cluster: atomic scripts per slot, sharded pub/sub on every master."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.exceptions import ResponseError

from auth import UserInfoClient
from diagnostics.parked import parked_waiters
from diagnostics.userinfo_server import AuthServer
from login.errors import InvalidGrant, RateLimited, SessionNotFound
from login.models import Cursor, Identity, Requester, Status
from oidc.authorization import RequestGone
from oidc.authorize import Parameters
from oidc.grant import Grant, new_grant_id, new_token, token_hash
from oidc.grants.form import Form
from redis_map import connect
from redis_map.batch import in_one_trip
from redis_map.connection.script import Script
from redis_map.grants import RedisGrantStore
from redis_map.keys import KeySpace
from redis_map.provider_limits import ENDPOINT_IP, ProviderLimits
from tests.conftest import TEST_AUTH_TIMEOUT
from tests.procs import CLUSTER_BUS_OFFSET, RedisServer, free_port, redis_cli, require_program
from tests.service import Instance

#: how long the new cluster may take until every node reports cluster_state:ok
CLUSTER_READY_TIMEOUT = 30.0


class Cluster:
    def __init__(self, masters: list[RedisServer]) -> None:
        self.masters = masters

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.masters[0].port}"

    def cli(self, master: RedisServer, *args: str) -> str:
        return redis_cli(*args, port=master.port)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binary = require_program("redis-server", "redis-server", (7, 0, 0))
    require_program("redis-cli", "redis-tools", (7, 0, 0))
    directory: Path = tmp_path_factory.mktemp("cluster")
    masters: list[RedisServer] = []
    try:
        for index in range(3):
            server = RedisServer(
                binary,
                directory / str(index),
                port=free_port(below=65536 - CLUSTER_BUS_OFFSET),
                extra=["cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 2000"],
            )
            masters.append(server.start())
        addresses = [f"127.0.0.1:{server.port}" for server in masters]
        redis_cli("--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes", port=masters[0].port)
        deadline = time.monotonic() + CLUSTER_READY_TIMEOUT
        # The nodes agree on the slots by gossip: no event to wait on, so ask until they do.
        while not all("cluster_state:ok" in redis_cli("cluster", "info", port=m.port) for m in masters):
            assert time.monotonic() < deadline, "the cluster did not become ready"
            time.sleep(0.1)
        yield Cluster(masters)
    finally:
        for server in masters:
            server.stop()


@pytest.fixture
async def cluster_instances(cluster: Cluster, auth_server: AuthServer) -> AsyncIterator[list[Instance]]:
    namespace = f"test-{secrets.token_hex(6)}"
    instances = []
    for _ in range(2):
        client = UserInfoClient(auth_server.url, timeout=TEST_AUTH_TIMEOUT)
        instances.append(await Instance(cluster.url, namespace, client, wait_timeout=30).start())
    yield instances
    for instance in instances:
        await instance.stop()


async def test_cluster_url_gives_a_store_that_publishes_sharded(cluster_instances: list[Instance]) -> None:
    store = cluster_instances[0].store
    assert store.sharded
    uuid = "81" + "0" * 30
    assert store.key(uuid).endswith(":session:{81}" + uuid)
    assert store.channel_for(uuid) == f"{store.keys.events}:{{81}}"


async def test_every_master_carries_shard_subscriptions_of_every_instance(
    cluster: Cluster, cluster_instances: list[Instance]
) -> None:
    stem = cluster_instances[0].store.keys.events
    channels = set(cluster_instances[0].store.keys.shard_channels())
    seen: set[str] = set()
    for master in cluster.masters:
        mine = set(cluster.cli(master, "pubsub", "shardchannels", f"{stem}:*").split())
        assert mine, f"no shard subscription on master {master.port}"
        counts = cluster.cli(master, "pubsub", "shardnumsub", *sorted(mine)).split()
        assert set(counts[1::2]) == {"2"}  # both instances, on every channel
        seen |= mine
        # Nothing uses classic pub/sub, which a cluster broadcasts to every node.
        assert cluster.cli(master, "pubsub", "numsub", stem).split()[1] == "0"
    assert seen == channels


async def test_logins_across_instances_on_a_cluster_wake_and_spread_over_masters(
    cluster: Cluster, cluster_instances: list[Instance]
) -> None:
    pc_side, app_side = cluster_instances
    sessions = [await pc_side.new_session() for _ in range(30)]
    namespace = pc_side.store.namespace
    count_keys = f"return #redis.call('keys', '{namespace}:session:*')"
    per_master = [int(cluster.cli(m, "eval", count_keys, "0")) for m in cluster.masters]
    assert sum(per_master) == 30 and all(count > 0 for count in per_master), per_master

    for session in sessions:  # the app shows who asks first; the PC then waits for the confirm
        assert (await app_side.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    parked = [asyncio.ensure_future(pc_side.wait(s["cursor"], status=1)) for s in sessions]
    assert await parked_waiters(pc_side.registry).until(lambda r: r.waiters == 30, timeout=10)
    started = time.monotonic()
    for session in sessions:
        answer = await app_side.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
        assert answer.code == 200, answer.body
    answers = await asyncio.gather(*parked)
    assert time.monotonic() - started < 10  # woken by the messages, not the 30 s timeout
    assert [a.body["status"] for a in answers] == [2] * 30

    for session, answer in zip(sessions, answers, strict=True):
        token = await app_side.post("/token", {"cursor": session["cursor"], "code": answer.body["code"]})
        assert token.code == 200 and token.body["user"]["sub"] == "alice"
        again = await pc_side.post("/token", {"cursor": session["cursor"], "code": answer.body["code"]})
        assert again.code == 200 and again.body["token"] == token.body["token"]  # a retry: the one login


async def test_a_login_on_a_cluster_is_audited_once_by_its_steps(cluster_instances: list[Instance]) -> None:
    """The stream and the deadline set are in other slots than a session: the steps record apart, once each."""
    pc_side, app_side = cluster_instances
    assert not pc_side.store.audits
    session = await pc_side.new_session()
    deadlines = pc_side.store.keys.audit_deadlines
    assert await pc_side.store._redis.zscore(deadlines, session["uuid"]) is not None
    for action in ("/scan", "/confirm"):
        assert (await app_side.post(action, {"uuid": session["uuid"]}, user="alice-token")).code == 200
    code = (await pc_side.wait(session["cursor"], status=1)).body["code"]
    for _ in range(2):  # the second a retry
        assert (await pc_side.post("/token", {"cursor": session["cursor"], "code": code})).code == 200
    mine = [e.outcome for e in await pc_side.audit.tail(100) if e.fields.get("uuid") == session["uuid"]]
    assert mine == ["confirmed", "exchanged"]
    assert await pc_side.store._redis.zscore(deadlines, session["uuid"]) is None


async def test_a_qr_on_a_cluster_counts_its_render_after_the_read(cluster_instances: list[Instance]) -> None:
    """The IP's render counter is in another slot than the session: counted apart, after the read (none for a
    session that is not there, none for a cached image); past the limit 429, nothing rendered."""
    login, redis, ip = cluster_instances[0].service.login, cluster_instances[0].redis, "192.0.2.8"
    count = login.limiter.qr_render(ip)
    assert count is not None and login.limiter.limits is not None
    with pytest.raises(SessionNotFound):
        await login.qr_image("0123456789abcdef" * 2, "svg", ip, lambda: "https://x.example")
    assert await redis.get(count.key) is None
    first, second = [(await cluster_instances[0].new_session())["uuid"] for _ in range(2)]
    image = await login.qr_image(first, "svg", ip, lambda: "https://x.example")
    assert (await login.qr_image(first, "svg", ip, lambda: "https://x.example")).data is image.data
    assert await redis.get(count.key) == "1"
    await redis.set(count.key, str(login.limiter.limits.qr_ip.count), px=30_000)
    with pytest.raises(RateLimited):
        await login.qr_image(second, "svg", ip, lambda: "https://x.example")
    assert login.renderer.cached(second, "svg") is None


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


async def test_racing_confirms_on_a_cluster_make_one_change(cluster_instances: list[Instance]) -> None:
    first, second = cluster_instances
    session = await first.new_session()
    assert (await second.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    answers = await asyncio.gather(
        *(
            (first if i % 2 else second).post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
            for i in range(10)
        )
    )
    # The same user's racing confirms all answer confirmed (retries are safe); one confirm happened.
    assert [a.code for a in answers] == [200] * 10
    assert sum([await i.metric("qrlogin_sessions_total", outcome="confirmed") for i in cluster_instances]) == 1
    codes = {(await i.wait(session["cursor"], status=1)).body["code"] for i in cluster_instances}
    assert len(codes) == 1


async def test_redis_cluster_flag_turns_a_redis_url_into_a_cluster_url(cluster: Cluster) -> None:
    from redis_map.connection.connect import cluster_url

    client = connect(cluster_url(f"redis://127.0.0.1:{cluster.masters[1].port}"))
    try:
        nodes = await client.cluster_nodes()  # type: ignore[union-attr]
        assert len([n for n in nodes.values() if "master" in n["flags"]]) == 3
    finally:
        await client.aclose()


async def test_woken_waits_on_a_cluster_answer_and_give_their_slots_back(
    cluster: Cluster, cluster_instances: list[Instance]
) -> None:
    """A wait's slots are in other hash slots than its session: its woken read only reads, its exit gives them back."""
    pc_side, app_side = cluster_instances
    sessions = [await pc_side.new_session() for _ in range(6)]
    parked = [asyncio.ensure_future(pc_side.wait(s["cursor"], status=0)) for s in sessions]
    assert await parked_waiters(pc_side.registry).until(lambda r: r.waiters == 6, timeout=10)
    slot_sets = f"return #redis.call('keys', '{pc_side.store.namespace}:rl:wait_*')"

    for session in sessions:
        assert (await app_side.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    answers = await asyncio.gather(*parked)

    assert [a.body["status"] for a in answers] == [1] * 6
    assert sum(int(cluster.cli(m, "eval", slot_sets, "0")) for m in cluster.masters) == 0


async def test_a_master_restart_resubscribes_and_wakes_a_parked_waiter(
    cluster: Cluster, cluster_instances: list[Instance]
) -> None:
    """Runs last in this module: it restarts a master of the shared cluster."""
    pc_side, app_side = cluster_instances
    victim = cluster.masters[0]
    while True:  # a session whose slot another master serves, so it survives the restart
        session = await pc_side.new_session()
        node = pc_side.redis.get_node_from_key(pc_side.store.key(session["uuid"]))  # type: ignore[union-attr]
        if node.port != victim.port:
            break
    assert (await app_side.post("/scan", {"uuid": session["uuid"]}, user="alice-token")).code == 200
    parked = asyncio.ensure_future(pc_side.wait(session["cursor"], status=1, timeout=60))
    assert await parked_waiters(pc_side.registry).until(lambda r: r.waiters == 1, timeout=5)
    subscriptions = pc_side.listener.subscriptions

    victim.kill()
    victim.start()  # same port and nodes.conf: it rejoins with its slots

    confirmed = await app_side.post("/confirm", {"uuid": session["uuid"]}, user="alice-token")
    assert confirmed.code == 200, confirmed.body
    answer = await asyncio.wait_for(parked, timeout=25)  # well before the 30 s wait timeout
    assert answer.body["status"] == 2
    assert pc_side.listener.subscriptions > subscriptions  # the subscription was rebuilt


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


async def test_a_batch_with_scripts_runs_on_a_cluster_one_command_at_a_time(cluster: Cluster) -> None:
    """redis-py's cluster pipeline refuses EVALSHA: such a batch goes command by command, answers in order,
    an error answer raised after every command ran."""
    redis = connect(cluster.url)
    try:
        key = f"test-{secrets.token_hex(6)}:batch"
        script = Script(redis, f"-- {secrets.token_hex(8)}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")
        assert await in_one_trip(redis, [(script, [key], [2]), ("INCR", [key]), (script, [key], [10])]) == [2, 3, 13]
        await redis.set(f"{key}:text", "text")
        with pytest.raises(ResponseError):
            await in_one_trip(redis, [(script, [f"{key}:text"], [1]), (script, [f"{key}:after"], [5])])
        assert await redis.get(f"{key}:after") == "5"
    finally:
        await redis.aclose()
