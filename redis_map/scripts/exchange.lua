-- Claims a confirmed session's one-time code: exactly one caller wins.
-- KEYS[1]  the session hash
-- ARGV     code, channel, uuid, publish command ('PUBLISH', or 'SPUBLISH' on a Cluster)
-- Returns  1 when this call consumed the code (the session is gone), else 0.
local key = KEYS[1]
local stored = redis.call('HGET', key, 'code')
if (not stored) or stored ~= ARGV[1] then
  return 0
end
redis.call('DEL', key)
redis.call(ARGV[4] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH', ARGV[2], ARGV[3] .. ':-1')
return 1
