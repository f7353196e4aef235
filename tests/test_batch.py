"""Several commands and scripts in one round trip, a script Redis does not know yet included."""

from __future__ import annotations

import secrets

import pytest
from redis.exceptions import ResponseError

from redis_map import connect
from redis_map.batch import in_one_trip
from redis_map.connection.script import Script


async def test_scripts_unknown_to_redis_run_exactly_once(redis_url: str, namespace: str) -> None:
    redis = connect(redis_url)
    try:
        key = f"{namespace}:batch"
        # A script text of its own, so Redis surely answers its first EVALSHA with NOSCRIPT.
        script = Script(redis, f"-- {secrets.token_hex(8)}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")
        answers = await in_one_trip(redis, [(script, [key], [2]), ("INCR", [key]), (script, [key], [10])])
        assert answers == [3, 1, 13]  # the unknown scripts ran again after the INCR, in their order
        assert int(await redis.get(key)) == 13  # each call ran once
        assert await in_one_trip(redis, [(script, [key], [1])]) == [14]  # now known: plain EVALSHA
    finally:
        await redis.aclose()


async def test_an_error_answer_is_raised_after_every_command_ran(redis_url: str, namespace: str) -> None:
    redis = connect(redis_url)
    try:
        key = f"{namespace}:batch-error"
        await redis.set(key, "text")
        with pytest.raises(ResponseError):
            await in_one_trip(redis, [("INCR", [key]), ("SET", [f"{key}:after", "1"])])
        assert await redis.get(f"{key}:after") == "1"
    finally:
        await redis.aclose()
