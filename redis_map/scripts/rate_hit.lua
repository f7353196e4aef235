-- Counts one request in a fixed window; the window opens with the first.
-- KEYS[1]  the counter of one rule and one client
-- ARGV     window_ms, limit
-- Returns  0 when allowed, else the ms until the window closes.
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  -- A new window (or, defensively, a counter that lost its TTL): every
  -- counter carries one, so nothing outlives its window.
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if count > tonumber(ARGV[2]) then
  return ttl
end
return 0
