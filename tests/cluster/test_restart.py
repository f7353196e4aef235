"""A master of the package's shared cluster restarted under a parked wait: the file's name sorts it last, as it
must run after the package's other tests."""

from __future__ import annotations

import asyncio

from diagnostics.parked import parked_waiters
from tests.cluster.conftest import Cluster
from tests.service import Instance


async def test_a_master_restart_resubscribes_and_wakes_a_parked_waiter(
    cluster: Cluster, cluster_instances: list[Instance]
) -> None:
    """Runs last in the package (see the module's docstring): it restarts a master of the shared cluster."""
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
