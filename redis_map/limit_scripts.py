"""The abuse limits' Lua functions, put before the scripts that count a request or take a slot in the same step
(the store's, the provider's), and the script counting one request on its own."""

from __future__ import annotations

from importlib import resources

_SCRIPTS = resources.files(__package__) / "scripts"

#: Lua function for a script that counts a request before what it does, put before it: ``rate_hit(key,
#: window_ms, limit)`` counts one request on a fixed-window counter (the window opens with the first, and
#: every counter carries a TTL, so nothing outlives its window); 0 when allowed, else the ms until it closes
RATE_HIT_LUA = """
local function rate_hit(key, window_ms, limit)
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window_ms)
    ttl = tonumber(window_ms)
  end
  if count > tonumber(limit) then
    return ttl
  end
  return 0
end
"""

#: Lua function for a script that takes a concurrency slot with what it does, put before it: ``slot_take(key,
#: now_ms, hold_ms, limit, holder)`` takes one slot of a sorted set of holders scored by when their slot lapses
#: (so a process that dies holding slots leaks none for longer than ``hold_ms``), if one is free: 1, else 0
SLOT_TAKE_LUA = """
local function slot_take(key, now_ms, hold_ms, limit, holder)
  local now, hold = tonumber(now_ms), tonumber(hold_ms)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(limit) then
    return 0
  end
  redis.call('ZADD', key, now + hold, holder)
  -- The set outlives its newest holder by nothing: every key has a TTL.
  redis.call('PEXPIRE', key, hold)
  return 1
end
"""

#: the script counting one request on its own: KEYS[1] the counter; ARGV window_ms, limit
RATE_HIT_SCRIPT = RATE_HIT_LUA + (_SCRIPTS / "rate_hit.lua").read_text()
