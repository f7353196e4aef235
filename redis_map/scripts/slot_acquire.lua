-- Takes one slot of a concurrency cap, if one is free.
-- KEYS[1]  a sorted set of holders, scored by the time their slot lapses
-- ARGV     now_ms, hold_ms, limit, holder
-- Returns  1 when taken, else 0.
-- A holder whose process died without releasing lapses at its score, so a
-- crash never leaks a slot for longer than hold_ms.
local key = KEYS[1]
local now, hold = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
if redis.call('ZCARD', key) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', key, now + hold, ARGV[4])
-- The set outlives its newest holder by nothing: every key has a TTL.
redis.call('PEXPIRE', key, hold)
return 1
