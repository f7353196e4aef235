-- Reads one login session and its TTL together, as read.lua does, counting a request on its client's rate limit
-- first when the session is there to be served (not gone, not exchanged): the render of its QR image.
-- The prelude store.py puts before this script defines rate_hit() and S.
-- KEYS[1]  the session hash; KEYS[2] the client's rate counter
-- ARGV     window_ms, limit (of the counter)
-- Returns  {wait_ms} when past the limit (counted; nothing read); else {0, pttl_ms, field1, value1, ...}, the rest
--          as read.lua's (nothing counted when the session is gone or exchanged).
local fields = redis.call('HGETALL', KEYS[1])
if #fields > 0 and tonumber(redis.call('HGET', KEYS[1], 'status')) ~= S.EXCHANGED then
  local wait_ms = rate_hit(KEYS[2], ARGV[1], ARGV[2])
  if wait_ms > 0 then
    return {wait_ms}
  end
end
table.insert(fields, 1, redis.call('PTTL', KEYS[1]))
table.insert(fields, 1, 0)
return fields
