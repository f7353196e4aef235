-- Exchanges a confirmed session's one-time code for the login signed for it:
-- exactly one exchange happens, and a retry of it gets the same login.
-- The prelude store.py puts before this script defines S (the stored statuses), O (the audited
-- outcomes), audit() and unwatch().
-- KEYS[1]  the session hash; KEYS[2], KEYS[3] the audit stream and deadline set (absent on a
--          Cluster: the caller records)
-- ARGV     code, code_hash, login (the signed token), grace_ms, channel, uuid,
--          publish command ('PUBLISH', or 'SPUBLISH' on a Cluster), ip, sub (for the audit entry)
-- Returns  {'ok', login} when this call exchanged the code: the session is
--          then kept for grace_ms as exchanged, holding the login and the
--          code's hash (never the code), announced as gone, and audited;
--          {'same', login} when the code was already exchanged (a retry
--          whose first answer was lost, or a racing copy): the kept login;
--          {'refused'} when the code is wrong, or the session is not confirmed.
local key = KEYS[1]
local code, code_hash, login, grace_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local fields = redis.call('HMGET', key, 'status', 'code', 'code_hash', 'login')
local status = tonumber(fields[1])
if status == S.EXCHANGED then
  if fields[3] == code_hash then
    return {'same', fields[4]}
  end
  return {'refused'}
end
if status ~= S.CONFIRMED or fields[2] ~= code then
  return {'refused'}
end
redis.call('HDEL', key, 'code')
redis.call('HSET', key, 'status', S.EXCHANGED, 'code_hash', code_hash, 'login', login)
redis.call('PEXPIRE', key, grace_ms)
redis.call(ARGV[7] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH', ARGV[5], ARGV[6] .. ':-1')
audit(KEYS[2], {'outcome', O.EXCHANGED, 'uuid', ARGV[6], 'user', ARGV[9], 'ip', ARGV[8]})
unwatch(KEYS[3], ARGV[6])
return {'ok', login}
