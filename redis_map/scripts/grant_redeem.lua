-- Redeems an authorization code: once, by its client, with its redirect URI and PKCE verifier.
-- The prelude grants.py puts before this script defines G (the grant statuses), E (the audited
-- events) and audit().
-- KEYS[1]  the grant's hash; KEYS[2] the audit stream (absent on a Cluster: the caller audits);
--          KEYS[3..5] with the limits on (never on a Cluster): the token request's counters (the IP's,
--          that IP's failed secrets for the client, the client's), counted first by token_limits()
-- ARGV     code_hash, client_id, redirect_uri, challenge (S256 of the code_verifier sent, '' if none),
--          now_ms, refresh_hash, grant_ttl_ms, retention_ms, grant_id, ip (both for the audit entry);
--          ARGV[11..14] with KEYS[3..5]: window_ms, the IP's, the client's and the failures' limits
-- Returns  {'limited', wait_ms, why}: past a limit (why: 'ip', 'secret', 'client'), nothing changed;
--          {'ok', field1, value1, ...} once: the grant is active, its first refresh token's hash
--          stored, and it lives grant_ttl_ms (the refresh tokens' lifetime); E.TOKEN_ISSUED audited;
--          {'reused', 'revoked'|'already'} for a code used before: the grant and everything it
--          issued are revoked now (kept retention_ms to recognise more replays), E.CODE_REUSED audited;
--          {'unknown'} (no such code), {'expired'}, {'wrong_client'}, {'wrong_redirect_uri'},
--          {'pkce_missing'}, {'pkce_mismatch'}, {'pkce_unexpected'}: refused, nothing changed.
if KEYS[3] then
  local refused = token_limits(KEYS[3], KEYS[4], KEYS[5], ARGV[11], ARGV[12], ARGV[13], ARGV[14])
  if refused then
    return {'limited', refused[1], refused[2]}
  end
end
local key = KEYS[1]
local code_hash, client_id, redirect_uri, challenge = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local grant_id, ip = ARGV[9], ARGV[10]
local g = redis.call('HMGET', key, 'status', 'code_hash', 'client_id', 'redirect_uri', 'code_challenge',
                     'code_expires_ms', 'sub')
if not g[1] or g[2] ~= code_hash then
  return {'unknown'}
end
if g[1] ~= G.CODE then
  -- A second use: the code leaked, or a replay. RFC 6749 4.1.2: refuse, and revoke what it issued.
  if g[1] == G.ACTIVE then
    redis.call('HSET', key, 'status', G.REVOKED)
    redis.call('PEXPIRE', key, ARGV[8])
    audit(KEYS[2], {'outcome', E.CODE_REUSED, 'grant', grant_id, 'client', client_id, 'ip', ip})
    return {'reused', 'revoked'}
  end
  return {'reused', 'already'}
end
if tonumber(ARGV[5]) >= tonumber(g[6]) then
  return {'expired'}
end
if g[3] ~= client_id then
  return {'wrong_client'}
end
if g[4] ~= redirect_uri then
  return {'wrong_redirect_uri'}
end
if g[5] ~= challenge then
  if g[5] == '' then
    return {'pkce_unexpected'}  -- a verifier for a code asked without a challenge: a downgrade
  elseif challenge == '' then
    return {'pkce_missing'}
  end
  return {'pkce_mismatch'}
end
redis.call('HSET', key, 'status', G.ACTIVE, 'refresh_hash', ARGV[6], 'generation', 1)
redis.call('PEXPIRE', key, ARGV[7])
audit(KEYS[2], {'outcome', E.TOKEN_ISSUED, 'grant', grant_id, 'client', client_id, 'user', g[7], 'ip', ip})
local reply = {'ok'}
for _, item in ipairs(redis.call('HGETALL', key)) do
  reply[#reply + 1] = item
end
return reply
