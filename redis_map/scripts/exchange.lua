-- Exchanges a confirmed session's one-time code, with its cursor, for a login kept for the user:
-- exactly one exchange happens, and a retry of it gets the same login.
-- The prelude store.py puts before this script defines S (the stored statuses), O (the audited
-- outcomes), audit() and unwatch().
-- KEYS[1]  the session hash; KEYS[2], KEYS[3] the audit stream and deadline set (absent on a
--          Cluster: the caller records); KEYS[4] a record to write with the exchange (optional)
-- ARGV     code, code_hash, login (what to keep),
--          grace_ms, channel, uuid, publish command ('PUBLISH', or 'SPUBLISH' on a Cluster), ip,
--          cursor_hash; with KEYS[4]: the record's ttl_ms, its field count n, n field-value pairs,
--          then its audit entry's field-value pairs (the user's sub is added to both, and the
--          user's name and picture to the record)
-- Returns  {'ok', login, sub, name, picture} when this call exchanged the code: the session is
--          then kept for grace_ms as exchanged, holding the login and the code's hash (never the
--          code), announced as gone, and audited;
--          {'same', kept login, sub, name, picture} when the code was already exchanged (a retry
--          whose first answer was lost, or a racing copy);
--          {'refused'} when the session is gone, the cursor or the code is wrong, or the session
--          is not confirmed.
local key = KEYS[1]
local code, code_hash, login, grace_ms = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local fields = redis.call('HMGET', key, 'status', 'code', 'code_hash', 'login', 'cursor_hash', 'sub', 'name', 'picture')
-- The cursor first: without it nothing about the session, its code included, is looked at.
if fields[5] ~= ARGV[9] or not fields[6] or fields[6] == '' then
  return {'refused'}
end
local status = tonumber(fields[1])
local sub, name, picture = fields[6], fields[7] or '', fields[8] or ''
if status == S.EXCHANGED then
  if fields[3] == code_hash then
    return {'same', fields[4], sub, name, picture}
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
audit(KEYS[2], {'outcome', O.EXCHANGED, 'uuid', ARGV[6], 'user', sub, 'ip', ARGV[8]})
unwatch(KEYS[3], ARGV[6])
if KEYS[4] then
  local count = tonumber(ARGV[11])
  local record, entry = {'sub', sub, 'name', name, 'picture', picture}, {}
  for i = 12, 11 + 2 * count do record[#record + 1] = ARGV[i] end
  for i = 12 + 2 * count, #ARGV do entry[#entry + 1] = ARGV[i] end
  entry[#entry + 1] = 'user'
  entry[#entry + 1] = sub
  redis.call('HSET', KEYS[4], unpack(record))
  redis.call('PEXPIRE', KEYS[4], ARGV[10])
  audit(KEYS[2], entry)
end
return {'ok', login, sub, name, picture}
