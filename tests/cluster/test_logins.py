"""Logins on a real 3-master Redis Cluster: atomic scripts per slot, sharded pub/sub on every master."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from redis.exceptions import ResponseError

from diagnostics.parked import parked_waiters
from login.errors import RateLimited, SessionNotFound
from redis_map import connect
from redis_map.batch import in_one_trip
from redis_map.connection.script import Script
from tests.cluster.conftest import Cluster
from tests.service import Instance


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
