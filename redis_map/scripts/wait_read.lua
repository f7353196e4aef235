-- A wait's first read of its session, with its concurrency slots taken in the same step.
-- The prelude store.py puts before this script defines slot_take() and parks().
-- KEYS[1]  the session hash; KEYS[2] the client IP's wait slots; KEYS[3] the session's wait slots
-- ARGV     cursor_hash (of the cursor the wait came with), known (the status the client knows),
--          now_ms, hold_ms, ip_limit, session_limit, holder
-- Returns  {0} when the IP's slots are full (nothing read, nothing taken), or when the session's are
--          (the IP's slot given back); else {taken, pttl_ms, field1, value1, ...} as read.lua's, taken
--          being 2 when the session's slot was taken too (the cursor is right and the session still in
--          the known status: the wait will park), else 1 (the IP's slot only).
local now_ms, hold_ms, holder = ARGV[3], ARGV[4], ARGV[7]
if slot_take(KEYS[2], now_ms, hold_ms, ARGV[5], holder) == 0 then
  return {0}
end
local fields = redis.call('HGETALL', KEYS[1])
local taken = 1
if parks(fields, ARGV[1], ARGV[2]) then
  if slot_take(KEYS[3], now_ms, hold_ms, ARGV[6], holder) == 0 then
    redis.call('ZREM', KEYS[2], holder)
    return {0}
  end
  taken = 2
end
table.insert(fields, 1, redis.call('PTTL', KEYS[1]))
table.insert(fields, 1, taken)
return fields
