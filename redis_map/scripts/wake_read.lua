-- A woken wait's read of its session, with its concurrency slots given back in the same step if it will answer.
-- The prelude store.py puts before this script defines parks().
-- KEYS[1]  the session hash; KEYS[2], ... the wait's slots (sorted sets of holders) it holds
-- ARGV     cursor_hash (of the cursor the wait came with), known (the status the client knows), holder
-- Returns  {given_back, pttl_ms, field1, value1, ...} as read.lua's, given_back being 1 when the wait will answer
--          (the cursor is wrong, the session gone or no longer in the known status) and its slots were given back,
--          else 0 (it parks again, holding them).
local fields = redis.call('HGETALL', KEYS[1])
local given_back = 0
if not parks(fields, ARGV[1], ARGV[2]) then
  for i = 2, #KEYS do
    redis.call('ZREM', KEYS[i], ARGV[3])
  end
  given_back = 1
end
table.insert(fields, 1, redis.call('PTTL', KEYS[1]))
table.insert(fields, 1, given_back)
return fields
