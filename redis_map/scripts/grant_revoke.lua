-- Revokes a grant on its client's word (RFC 7009), given one of its refresh tokens (current or rotated).
-- The prelude grants.py puts before this script defines G (the grant statuses).
-- KEYS[1]  the grant's hash; KEYS[2] the set of its rotated refresh tokens' hashes
-- ARGV     presented_hash, client_id, retention_ms
-- Returns  'revoked', 'already', 'unknown' (no such token) or 'wrong_client' (left alone).
local g = redis.call('HMGET', KEYS[1], 'status', 'refresh_hash', 'client_id')
if not g[1] then
  return 'unknown'
end
if g[2] ~= ARGV[1] and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  return 'unknown'
end
if g[3] ~= ARGV[2] then
  return 'wrong_client'
end
if g[1] == G.REVOKED then
  return 'already'
end
redis.call('HSET', KEYS[1], 'status', G.REVOKED)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 'revoked'
