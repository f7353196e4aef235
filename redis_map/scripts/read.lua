-- Reads one login session and its TTL together, in one round trip.
-- KEYS[1]  the session hash
-- Returns  {pttl_ms, field1, value1, ...}; pttl_ms is -2 and no fields when it is gone.
local fields = redis.call('HGETALL', KEYS[1])
table.insert(fields, 1, redis.call('PTTL', KEYS[1]))
return fields
