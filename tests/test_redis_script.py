"""Our script calls (``redis_map.connection.script``) against a real Redis: what redis-py's Script guaranteed, kept.

A Redis that forgot the scripts still runs them; a call cancelled while its
reply is on the way leaves no stale reply for the next call; an error reply is
the same exception as redis-py's; on a Cluster redis-py's Script still runs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from typing import Any

import pytest
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from login.models import Identity, Requester, Status
from redis_map import SessionStore, connect
from redis_map.connection.pool import QueueingConnectionPool
from redis_map.connection.script import Script
from tests.procs import RedisServer

#: echoes its argument after touching its key, so a reply says which call it answers
ECHO = "redis.call('INCR', KEYS[1]) return ARGV[1]"


async def test_a_transition_runs_after_redis_forgot_the_scripts(own_redis: RedisServer) -> None:
    """SCRIPT FLUSH (or a restart, or a failover to a replica without them): EVALSHA answers NOSCRIPT."""
    redis = connect(own_redis.url)
    try:
        store = SessionStore(redis, namespace="flushed")
        new = await store.create(Requester("192.0.2.1", "TestBrowser/1.0", time.time()))
        assert await redis.script_flush()
        view = await store.scan(new.uuid, Identity(sub="alice", name="Alice"))
        assert view.status is Status.SCANNED
        assert (await store.read(new.uuid)).status is Status.SCANNED  # read.lua, also forgotten, also ran
    finally:
        await redis.aclose()


async def _blocked_in_read(pool: QueueingConnectionPool) -> AbstractConnection:
    """The one connection in use, once its command has been sent and its caller waits for the reply."""
    while True:
        in_use = list(pool._in_use_connections)
        if in_use:
            reader = getattr(in_use[0], "_reader", None)  # redis-py's asyncio.StreamReader for the socket
            if isinstance(reader, asyncio.StreamReader) and reader._waiter is not None:  # type: ignore[attr-defined]
                return in_use[0]
        await asyncio.sleep(0)  # a turn of the loop, not a delay: the call runs on to its read


async def test_a_call_cancelled_while_redis_is_stopped_leaves_no_stale_reply(own_redis: RedisServer) -> None:
    redis = connect(own_redis.url)
    pid = own_redis.process.pid if own_redis.process is not None else 0
    try:
        pool = redis.connection_pool
        assert isinstance(pool, QueueingConnectionPool)
        echo = Script(redis, ECHO)
        assert await echo(keys=["stale:n"], args=["warm"]) == "warm"  # loaded, one connection open
        os.kill(pid, signal.SIGSTOP)
        first = asyncio.ensure_future(echo(keys=["stale:n"], args=["first"]))
        await _blocked_in_read(pool)  # EVALSHA "first" is in the stopped server's socket
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        # The next call takes a connection while Redis is still stopped, so nothing has been read from it yet:
        # had the cancelled call's connection gone back as it was, "first"'s reply would be this one's.
        second = asyncio.ensure_future(echo(keys=["stale:n"], args=["second"]))
        await _blocked_in_read(pool)
        os.kill(pid, signal.SIGCONT)
        assert await second == "second"
        assert await echo(keys=["stale:n"], args=["third"]) == "third"
    finally:
        os.kill(pid, signal.SIGCONT)
        await redis.aclose()


@pytest.mark.parametrize(
    "lua",
    [
        "return redis.call('INCR', KEYS[1])",  # an error raised by a command inside the script (WRONGTYPE)
        "return redis.error_reply('BUSY not really')",  # an error reply the script makes, with a code
        "return {err = 'OOM a refusal inside a script'}",
        "error('a Lua runtime error')",
        "return redis.call('NOSUCHCOMMAND')",
    ],
)
async def test_an_error_reply_is_the_exception_redis_py_raised(redis_url: str, namespace: str, lua: str) -> None:
    redis = connect(redis_url)
    try:
        key = f"{namespace}:text"
        await redis.set(key, "not a number")
        source = f"-- {secrets.token_hex(8)}\n{lua}"  # its own text, so the first call meets NOSCRIPT too
        theirs = redis.register_script(source)
        ours = Script(redis, source)
        with pytest.raises(ResponseError) as expected:
            await theirs(keys=[key])
        for _ in range(2):  # known to Redis now; then again on the same pooled connection
            with pytest.raises(ResponseError) as got:
                await ours(keys=[key])
            assert type(got.value) is type(expected.value)
            assert str(got.value) == str(expected.value)
        assert await redis.get(key) == "not a number"  # and the connection is still in step
    finally:
        await redis.aclose()


async def test_a_script_redis_does_not_know_runs_once(redis_url: str, namespace: str) -> None:
    redis = connect(redis_url)
    try:
        key = f"{namespace}:once"
        script = Script(redis, f"-- {secrets.token_hex(8)}\n{ECHO}")
        assert await script(keys=[key], args=["x"]) == "x"
        assert await redis.get(key) == "1"
        assert await script(keys=[key], args=["y"]) == "y"
        assert await redis.get(key) == "2"
    finally:
        await redis.aclose()


async def test_scripts_get_the_same_answers_as_redis_py_gave(redis_url: str, namespace: str) -> None:
    """One argument of each kind through a script and back: ours against redis-py's Script, on one client."""
    source = "local out = {} for i, v in ipairs(ARGV) do out[i] = v end return out"
    args: list[Any] = ["é😀", b"bytes", 42, -(2**70), 0.1, 1e20, bytearray(b"ba")]
    redis = connect(redis_url)
    try:
        keys = [f"{namespace}:k"]
        expected = await redis.register_script(source)(keys=keys, args=args)
        assert await Script(redis, source)(keys=keys, args=args) == expected
        assert expected[:4] == ["é😀", "bytes", "42", str(-(2**70))]
    finally:
        await redis.aclose()
