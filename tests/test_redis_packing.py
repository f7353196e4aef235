"""Commands packed by hiredis are byte for byte redis-py's, and refused where redis-py refused them."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from redis_map import connect
from redis_map.connection.packing import PACKED, HiredisPacking, PackedConnection


class Level(enum.IntEnum):
    HIGH = 3


class Word(enum.StrEnum):
    YES = "yes"


class Ratio(float):
    def __repr__(self) -> str:
        return "ratio"


SHA = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
#: the kinds of argument our scripts and commands pass, and the edges of each
ARGUMENTS: list[tuple[Any, ...]] = [
    ("EVALSHA", SHA, 3, "ns:session:{81}81fd", "ns:audit", "ns:deadlines", "ab" * 16, 1, "user-1", "127.0.0.1"),
    ("EVALSHA", SHA, 0, "é", "名前", "😀", "a b c", "", b"", b"\x00\xff raw", b"\r\n"),
    ("EVALSHA", SHA, 0, 0, -1, 2**63, -(2**70), 120000, Level.HIGH, Word.YES),
    ("EVALSHA", SHA, 0, 0.5, 1e20, -0.0, 1 / 3, float("inf"), float("nan"), 1e-300, Ratio(2.0)),
    ("EVAL", "return 1", 0, "x" * 7000, b"y" * 70000),  # past redis-py's buffer cutoff: it sends pieces
    ("SCRIPT LOAD", "return 1"),  # a subcommand in the name, split as redis-py splits it
    (b"SCRIPT LOAD", "return 1"),
    ("SET", "k", bytearray(b"ba"), memoryview(b"mv")),  # hiredis takes neither bytearray nor every memoryview
    ("PING",),
]


@pytest.mark.parametrize("command", ARGUMENTS)
def test_hiredis_packs_what_redis_py_packs(command: tuple[Any, ...]) -> None:
    ours, theirs = PackedConnection(), Connection()
    assert ours.packs_in_c
    assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))


@pytest.mark.parametrize("bad", [True, False, None, [1], {"a": 1}, (1,), object(), 3 + 0j])
def test_what_redis_py_refused_is_refused_alike(bad: object) -> None:
    with pytest.raises(DataError) as theirs:
        Connection().pack_command("EVALSHA", SHA, 0, bad)
    with pytest.raises(DataError) as ours:
        PackedConnection().pack_command("EVALSHA", SHA, 0, bad)
    assert str(ours.value) == str(theirs.value)


def test_a_str_hiredis_cannot_write_as_asked_is_packed_by_redis_py() -> None:
    """hiredis writes strict UTF-8 only; another encoding keeps redis-py's packer."""
    latin = PackedConnection(encoding="latin-1")
    assert not latin.packs_in_c
    assert latin.pack_command("SET", "k", "é") == Connection(encoding="latin-1").pack_command("SET", "k", "é")
    with pytest.raises(UnicodeEncodeError):
        PackedConnection().pack_command("SET", "k", "\ud800")  # as redis-py's strict encoder


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:1/0",
        "rediss://127.0.0.1:1/0",
        "unix:///nonexistent/redis.sock",
        "redis+sentinel://127.0.0.1:1/mymaster",
        "rediss+sentinel://127.0.0.1:1/mymaster",
    ],
)
async def test_every_kind_of_connection_our_pools_make_packs_with_hiredis(url: str) -> None:
    """Nothing connects: the pool's class is what counts (TCP, TLS, unix socket, Sentinel with or without TLS)."""
    redis = connect(url)
    try:
        assert isinstance(redis, aioredis.Redis)
        connection_class = redis.connection_pool.connection_class
        assert issubclass(connection_class, HiredisPacking)
        assert connection_class in PACKED.values()
    finally:
        await redis.aclose()
