"""Building the asyncio Redis clients from a URL: one server, a Cluster, or Sentinels.

``redis://``, ``rediss://`` and ``unix://`` name one server.
``redis+cluster://host:port[,host:port...]`` (or ``rediss+cluster://``)
names a Redis Cluster by any of its nodes.
``redis+sentinel://[:password@]host:port[,host:port...]/<service>[/<db>]``
(or ``rediss+sentinel://``) names the master that the Sentinels watch over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast
from urllib.parse import SplitResult, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

from redis_map.connection import sentinel
from redis_map.connection.pool import QueueingConnectionPool

#: most connections one process opens for commands; past it requests queue
MAX_CONNECTIONS = 64
#: how long a request waits in that queue before giving up with 503: a burst of
#: 10,000 PCs parking at once queues for seconds, and must not be refused
POOL_TIMEOUT = 10.0
#: how long to wait to connect to Redis: a reachable one answers in milliseconds
CONNECT_TIMEOUT = 2.0
#: how long to wait for an answer: Redis takes microseconds, but our own loop may be
#: seconds behind under a burst (and a 0.4 s full GC), which is not Redis being gone
SOCKET_TIMEOUT = 5.0
#: the port of a Sentinel named without one
SENTINEL_PORT = 26379
#: the port of a Redis named without one
REDIS_PORT = 6379

#: a client for commands: one server (or a Sentinel-managed master), or a Cluster
RedisClient: TypeAlias = "aioredis.Redis | RedisCluster"


@dataclass(frozen=True)
class RedisTarget:
    """What a Redis URL names: its kind, the hosts to reach, and the connection options."""

    #: "single", "cluster" or "sentinel"
    kind: str
    #: the URL redis-py understands, for "single"
    url: str = ""
    #: the (host, port) pairs: cluster seed nodes or Sentinels
    hosts: tuple[tuple[str, int], ...] = ()
    #: the Sentinel service (master) name
    service: str = ""
    #: options for every connection (password, db, ssl)
    options: dict[str, Any] = field(default_factory=dict)


def cluster_url(url: str) -> str:
    """``url`` as a Cluster URL: what ``--redis-cluster`` does to ``redis://`` or ``rediss://``."""
    for scheme in ("redis", "rediss"):
        if url.startswith(f"{scheme}://"):
            return f"{scheme}+cluster://{url[len(scheme) + 3 :]}"
    if "+cluster://" in url:
        return url
    raise ValueError(f"--redis-cluster needs a redis:// or rediss:// URL, not {url!r}")


def redis_url_of(url: str, *, cluster: bool = False) -> str:
    """The URL to connect to, checked: ``url`` ("" for the embedded Redis), as a Cluster if asked.

    ValueError says what is wrong, before anything connects or forks.
    """
    if cluster:
        if not url:
            raise ValueError("--redis-cluster needs --redis-url naming a node of the cluster")
        url = cluster_url(url)
    if url:
        parse_target(url)
    return url


def parse_target(url: str) -> RedisTarget:
    """Reads a Redis URL; ValueError names what is wrong with it."""
    parts = urlsplit(url)
    base, _, flavour = parts.scheme.partition("+")
    if base not in ("redis", "rediss", "unix") or flavour not in ("", "cluster", "sentinel"):
        raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r}")
    if not flavour:
        return RedisTarget(kind="single", url=url)
    if base == "unix":
        raise ValueError(f"{parts.scheme}:// must name TCP hosts")
    options: dict[str, Any] = {}
    if parts.password is not None:
        options["password"] = unquote(parts.password)
    if parts.username:
        options["username"] = unquote(parts.username)
    if base == "rediss":
        options["ssl"] = True
    default_port = SENTINEL_PORT if flavour == "sentinel" else REDIS_PORT
    hosts = _hosts(parts, default_port)
    if flavour == "cluster":
        if parts.path.strip("/"):
            raise ValueError("a Redis Cluster has only database 0; drop the path")
        return RedisTarget(kind="cluster", hosts=hosts, options=options)
    service, _, db = parts.path.strip("/").partition("/")
    if not service:
        raise ValueError("redis+sentinel:// needs the master's name as its path: /<service>")
    if db:
        if not (db.isascii() and db.isdigit()):
            raise ValueError(f"database {db!r} is not a number")
        options["db"] = int(db)
    return RedisTarget(kind="sentinel", hosts=hosts, service=unquote(service), options=options)


def connect(url: str) -> RedisClient:
    """A client for commands: a queueing pool, so bursts queue rather than fail.

    redis-py's default pool raises "Too many connections" past its limit; ours
    makes a request wait up to POOL_TIMEOUT for a free one (``redis_map.pool``).
    Nothing is retried on a broken connection: a retried transition could run
    twice, so the caller answers 503 and the client decides.  A pooled
    connection the server closed while it sat idle (Redis restarted) is
    replaced before anything is sent on it, so it fails no request.
    """
    target = parse_target(url)
    timeouts: dict[str, Any] = dict(
        socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT, decode_responses=True
    )
    if target.kind == "cluster":
        return _cluster(target, max_connections=MAX_CONNECTIONS, **timeouts)
    if target.kind == "sentinel":
        client = _sentinel(target).master_for(
            target.service,
            connection_pool_class=sentinel.QueueingSentinelPool,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT,
            **timeouts,
        )
        return cast("aioredis.Redis", client)
    pool = QueueingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT, **timeouts)
    return aioredis.Redis(connection_pool=pool)


def connect_pubsub(url: str) -> RedisClient:
    """A client for the change subscription: no read timeout, as it idles by design.

    For a Cluster this client only maps channels to nodes; the listener opens
    its own subscription on every master (see ``redis_map.sharded``).
    """
    target = parse_target(url)
    if target.kind == "cluster":
        return _cluster(target, socket_connect_timeout=CONNECT_TIMEOUT, decode_responses=True)
    if target.kind == "sentinel":
        client = _sentinel(target).master_for(
            target.service, socket_connect_timeout=CONNECT_TIMEOUT, decode_responses=True
        )
        return cast("aioredis.Redis", client)
    return aioredis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, decode_responses=True)


def _cluster(target: RedisTarget, **kwargs: Any) -> RedisCluster:
    nodes = [ClusterNode(host, port) for host, port in target.hosts]
    return RedisCluster(startup_nodes=nodes, **target.options, **kwargs)


def _sentinel(target: RedisTarget) -> Sentinel:
    # The Sentinels themselves answer without the master's password or db.
    sentinel_options = dict(socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT)
    return Sentinel(  # type: ignore[no-untyped-call]
        list(target.hosts), sentinel_kwargs=sentinel_options, **target.options
    )


def _hosts(parts: SplitResult, default_port: int) -> tuple[tuple[str, int], ...]:
    hostlist = parts.netloc.rpartition("@")[2]
    hosts = []
    for item in hostlist.split(","):
        host, port = _host_port(item.strip(), default_port)
        hosts.append((host, port))
    if not hosts:
        raise ValueError("no host given")
    return tuple(hosts)


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    if not item:
        raise ValueError("an empty host in the host list")
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
    if not port:
        return host, default_port
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in {item!r}")
    return host, int(port)
