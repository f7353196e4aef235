"""Several commands, Lua scripts among them, in one round trip to Redis.

redis-py's pipeline runs a registered script with ``SCRIPT EXISTS`` first, a
round trip of its own at every ``execute()``; here a script goes as a plain
``EVALSHA``, and one Redis answers ``NOSCRIPT`` (restarted, flushed, a new
replica) is run again on its own, which loads it: after the batch's other
commands, so only batches whose order does not matter belong here.  Outside a
transaction.  On a Cluster, whose pipeline refuses ``EVALSHA``, a batch with a
script sends its commands one by one (each to its key's node), in order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, ResponseError

from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script

#: one command of a batch: a script with its keys and arguments, or a command's name and arguments
Call = tuple[Script, Sequence[Any], Sequence[Any]] | tuple[str, Sequence[Any]]


async def in_one_trip(redis: RedisClient, calls: Sequence[Call]) -> list[Any]:
    """The answers of ``calls``, sent in one pipeline; the first error answer raised (after every command ran)."""
    if isinstance(redis, RedisCluster) and any(len(call) == 3 for call in calls):
        answers = [await _answer_of(_one(redis, call)) for call in calls]
    else:
        answers = await _pipelined(redis, calls)
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers


async def _pipelined(redis: RedisClient, calls: Sequence[Call]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for call in calls:
            if len(call) == 3:
                script, keys, args = call
                pipe.evalsha(script.sha, len(keys), *keys, *args)
            else:
                name, args = call
                pipe.execute_command(name, *args)
        answers: list[Any] = await pipe.execute(raise_on_error=False)
    for index, (call, answer) in enumerate(zip(calls, answers, strict=True)):
        if isinstance(answer, NoScriptError) and len(call) == 3:
            script, keys, args = call
            answers[index] = await _answer_of(script(keys=keys, args=args))  # runs it as EVAL, which loads it
    return answers


async def _one(redis: RedisClient, call: Call) -> Any:
    if len(call) == 3:
        script, keys, args = call
        return await script(keys=keys, args=args)
    name, args = call
    return await redis.execute_command(name, *args)


async def _answer_of(command: Awaitable[Any]) -> Any:
    """What ``command`` answered, an error answer included (as a pipeline gives it)."""
    try:
        return await command
    except ResponseError as error:
        return error
