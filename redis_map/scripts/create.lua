-- Creates a waiting login session, counted on its client's rate limit first and watched for expiry, in one step;
-- optionally with a copy of another record beside it (the authorization request a provider's login answers).
-- The prelude store.py puts before this script defines rate_hit() and watch().
-- KEYS[1]  the session hash; KEYS[2], KEYS[3] the audit stream and deadline set (absent on a Cluster: the
--          caller watches); then, when ARGV[6] > 0, the record to copy and where its copy goes; last, the client's
--          rate counter (absent: no limits, or counted by the caller)
-- ARGV     ttl_ms, deadline_ms (when the session is due to expire), uuid, window_ms, limit (of the counter),
--          copy_ttl_ms (0: no copy), then the session's fields as field, value pairs
-- Returns  0 when created; -1 when the record to copy is gone; else the ms until the rate window closes.  Only
--          when 0 is anything created or counted (-1 counts nothing).
local counter = KEYS[4]
local copied
if ARGV[6] ~= '0' then
  copied = redis.call('GET', KEYS[4])
  if not copied then
    return -1
  end
  counter = KEYS[6]
end
if counter then
  local wait_ms = rate_hit(counter, ARGV[4], ARGV[5])
  if wait_ms > 0 then
    return wait_ms
  end
end
local fields = {}
for i = 7, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
watch(KEYS[3], ARGV[3], ARGV[2])
if copied then
  redis.call('SET', KEYS[5], copied, 'PX', ARGV[6])
end
return 0
