-- Creates a waiting login session, counted on its client's rate limit first and watched for expiry, in one step.
-- The prelude store.py puts before this script defines rate_hit() and watch().
-- KEYS[1]  the session hash; KEYS[2], KEYS[3] the audit stream and deadline set (absent on a Cluster: the
--          caller watches); KEYS[4] the client's rate counter (absent: no limits, or counted by the caller)
-- ARGV     ttl_ms, deadline_ms (when the session is due to expire), uuid, window_ms, limit (of the counter),
--          then the session's fields as field, value pairs
-- Returns  0 when created; else the ms until the rate window closes, and nothing is created.
if KEYS[4] then
  local wait_ms = rate_hit(KEYS[4], ARGV[4], ARGV[5])
  if wait_ms > 0 then
    return wait_ms
  end
end
local fields = {}
for i = 6, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
watch(KEYS[3], ARGV[3], ARGV[2])
return 0
