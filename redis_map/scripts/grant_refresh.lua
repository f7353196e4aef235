-- Rotates a refresh token: the one presented is spent, a new one takes its place.
-- The prelude grants.py puts before this script defines G (the grant statuses), E (the audited
-- events) and audit().
-- KEYS[1]  the grant's hash; KEYS[2] the set of its rotated refresh tokens' hashes (same slot);
--          KEYS[3] the audit stream (absent on a Cluster: the caller audits);
--          KEYS[4..6] with the limits on (never on a Cluster): the token request's counters (the IP's,
--          that IP's failed secrets for the client, the client's), counted first by token_limits()
-- ARGV     presented_hash, new_hash, client_id, retention_ms, grant_id, ip (both for the audit entry);
--          ARGV[7..10] with KEYS[4..6]: window_ms, the IP's, the client's and the failures' limits
-- Returns  {'limited', wait_ms, why}: past a limit (why: 'ip', 'secret', 'client'), nothing changed;
--          {'ok', field1, value1, ...}: rotated (the new hash stored, the old one remembered),
--          E.TOKEN_REFRESHED audited;
--          {'reused', 'revoked'|'already'}: a rotated token presented again, so the family leaked:
--          the grant is revoked now (kept retention_ms), E.REFRESH_REUSED audited;
--          {'unknown'} (not this grant's current token, or the grant revoked), {'wrong_client'}.
if KEYS[4] then
  local refused = token_limits(KEYS[4], KEYS[5], KEYS[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
  if refused then
    return {'limited', refused[1], refused[2]}
  end
end
local grant_id, ip = ARGV[5], ARGV[6]
local g = redis.call('HMGET', KEYS[1], 'status', 'refresh_hash', 'client_id', 'sub')
if not g[1] then
  return {'unknown'}
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  if g[1] ~= G.REVOKED then
    redis.call('HSET', KEYS[1], 'status', G.REVOKED)
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
    audit(KEYS[3], {'outcome', E.REFRESH_REUSED, 'grant', grant_id, 'client', ARGV[3], 'ip', ip})
    return {'reused', 'revoked'}
  end
  return {'reused', 'already'}
end
if g[1] ~= G.ACTIVE or g[2] ~= ARGV[1] then
  return {'unknown'}
end
if g[3] ~= ARGV[3] then
  return {'wrong_client'}
end
redis.call('SADD', KEYS[2], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
redis.call('HSET', KEYS[1], 'refresh_hash', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'generation', 1)
audit(KEYS[3], {'outcome', E.TOKEN_REFRESHED, 'grant', grant_id, 'client', ARGV[3], 'user', g[4], 'ip', ip})
local reply = {'ok'}
for _, item in ipairs(redis.call('HGETALL', KEYS[1])) do
  reply[#reply + 1] = item
end
return reply
