"""Several commands, Lua scripts among them, in one round trip to Redis.

redis-py's pipeline runs a registered script with ``SCRIPT EXISTS`` first, a
round trip of its own at every ``execute()``; here a script goes as a plain
``EVALSHA``, and one Redis answers ``NOSCRIPT`` (restarted, flushed, a new
replica) is run again on its own, which loads it: after the batch's other
commands, so only batches whose order does not matter belong here.  Outside a transaction, on a
Cluster too (each command then goes to its key's node).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import NoScriptError

from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script

#: one command of a batch: a script with its keys and arguments, or a command's name and arguments
Call = tuple[Script, Sequence[Any], Sequence[Any]] | tuple[str, Sequence[Any]]


async def in_one_trip(redis: RedisClient, calls: Sequence[Call]) -> list[Any]:
    """The answers of ``calls``, sent in one pipeline; the first error answer raised (after every command ran)."""
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
            answers[index] = await script(keys=keys, args=args)  # runs it as EVAL, which loads it
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers
