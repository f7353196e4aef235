"""Change notification on a Redis Cluster: sharded pub/sub over 256 hash-tagged channels.

A session's key and its change channel carry the same hash tag, the uuid's
first two hex digits (``<ns>:session:{81}81fd…`` and ``<ns>:events:{81}``),
so the transition script may SPUBLISH on the channel: a sharded message stays
within the shard that owns the slot instead of being broadcast to every node
of the cluster, as a classic PUBLISH is.

Every process subscribes to all 256 channels, each on the master that serves
its slot (one connection per master).  When a connection breaks, or a slot
moves (the server then drops the shard subscription), the whole subscription is
rebuilt from a fresh view of the cluster, and the listener wakes every waiter
to re-read.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

from redis_map.connection.failures import STORAGE_ERRORS, TopologyChanged
from redis_map.connection.pubsub import first_failure, pump


class ShardedSubscription:
    """One subscription per master, to the shard channels of the slots it serves."""

    def __init__(self, cluster: RedisCluster, channels: list[str]) -> None:
        self._cluster = cluster
        self._channels = channels
        self._confirmed = 0

    async def run(self, on_ready: Callable[[], None], on_message: Callable[[dict[str, Any]], None]) -> None:
        """Subscribes, calls ``on_ready`` once every channel is confirmed, then feeds ``on_message``.

        Runs until a connection breaks (raising one of STORAGE_ERRORS) or the
        topology changes (TopologyChanged); never returns normally.
        """
        self._confirmed = 0
        await self._cluster.initialize()  # a fresh slot map on every (re)subscription
        by_node: dict[str, tuple[ClusterNode, list[str]]] = {}
        for channel in self._channels:
            node = self._cluster.get_node_from_key(channel)
            if node is None:
                raise TopologyChanged(f"no master serves {channel!r}")
            by_node.setdefault(node.name, (node, []))[1].append(channel)

        def handle(message: dict[str, Any]) -> None:
            kind = message.get("type")
            if kind == "ssubscribe":
                self._confirmed += 1
                if self._confirmed == len(self._channels):
                    on_ready()
            elif kind == "sunsubscribe":
                raise TopologyChanged(f"the server dropped {message.get('channel')!r}")
            else:
                on_message(message)

        clients: list[aioredis.Redis] = []
        pubsubs: list[aioredis.client.PubSub] = []
        try:
            for node, channels in by_node.values():
                client = _node_client(node)
                clients.append(client)
                pubsub = client.pubsub()
                pubsubs.append(pubsub)
                await _subscribe_by_slot(pubsub, channels)
            await first_failure(*(pump(pubsub, handle) for pubsub in pubsubs))
        finally:
            for pubsub in pubsubs:
                with contextlib.suppress(*STORAGE_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            for client in clients:
                with contextlib.suppress(*STORAGE_ERRORS):
                    await client.aclose()


def _node_client(node: ClusterNode) -> aioredis.Redis:
    """A plain client to one cluster node, with the cluster's connection options."""
    pool = aioredis.ConnectionPool(connection_class=node.connection_class, **node.connection_kwargs)
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() disconnects it


async def _subscribe_by_slot(pubsub: aioredis.client.PubSub, channels: list[str]) -> None:
    # One SSUBSCRIBE may only name channels of one slot.
    by_slot: defaultdict[int, list[str]] = defaultdict(list)
    for channel in channels:
        by_slot[key_slot(channel.encode())].append(channel)
    for slot_channels in by_slot.values():
        await pubsub.ssubscribe(*slot_channels)
