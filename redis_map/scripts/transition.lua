-- Moves one login session to a new status, atomically, and announces it.
-- The prelude store.py puts before this script defines S (the stored
-- statuses), A (the actions) and O (the audited outcomes), from the Python
-- enums: nothing is repeated here; and rate_hit(), audit(), watch(), unwatch().
-- KEYS[1]  the session hash; KEYS[2], KEYS[3] the audit stream and deadline
--          set (absent on a Cluster: the caller records); KEYS[4] the user's
--          rate counter (absent: no limits, or counted by the caller)
-- ARGV     action, sub, name, picture, code, code_ttl_ms, channel, uuid,
--          publish command ('PUBLISH', or 'SPUBLISH' on a Cluster: the
--          channel shares the key's slot), ip (for the audit entry),
--          deadline_ms (a confirmed session's new expiry), window_ms, limit
--          (of the rate counter)
-- Returns  {'rate_limited', ms until the window closes} past the user's rate
--          limit (counted first, as every request is; nothing else done);
--          else {outcome, status}; outcome is 'ok' (changed, published and
--          audited if a confirm or cancel),
--          'same' (the same user's change was already made: a retry, nothing
--          to do), 'not_found', 'invalid_state', 'user_mismatch' or
--          'not_scanned'.  A scan that succeeds ('ok' or 'same') also returns
--          the session as read.lua does: {outcome, status, pttl_ms, field1,
--          value1, ...}, which the app is shown, without a second round trip.
local key = KEYS[1]
local action, sub, name, picture = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local code, code_ttl_ms, channel, uuid = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local publish = ARGV[9] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH'
local stream, deadlines, ip = KEYS[2], KEYS[3], ARGV[10]

if KEYS[4] then
  local wait_ms = rate_hit(KEYS[4], ARGV[12], ARGV[13])
  if wait_ms > 0 then
    return {'rate_limited', wait_ms}
  end
end

local function scanned(outcome)
  local reply = {outcome, S.SCANNED, redis.call('PTTL', key)}
  for _, item in ipairs(redis.call('HGETALL', key)) do
    reply[#reply + 1] = item
  end
  return reply
end

local current = redis.call('HMGET', key, 'status', 'sub', 'denied_by')
if not current[1] then
  return {'not_found', -1}
end
local status = tonumber(current[1])
local owner = current[2]

-- A retry by the user whose change this already is (its first answer lost
-- to a timeout) is answered as the first was, and changes nothing.
if action == A.CONFIRM and owner == sub and (status == S.CONFIRMED or status == S.EXCHANGED) then
  return {'same', S.CONFIRMED}
end
if action == A.CANCEL and status == S.DENIED and (owner or current[3]) == sub then
  return {'same', S.DENIED}
end

-- Only waiting and scanned sessions can move; confirmed, denied, exchanged
-- and expired ones are final, so nothing can revive or switch them.
if status ~= S.WAITING and status ~= S.SCANNED then
  return {'invalid_state', status == S.EXCHANGED and S.CONFIRMED or status}
end
-- Once scanned, the session belongs to the user who scanned it.
if owner and owner ~= sub then
  return {'user_mismatch', status}
end

if action == A.SCAN then
  if status == S.SCANNED then
    return scanned('same')
  end
  redis.call('HSET', key, 'status', S.SCANNED, 'sub', sub, 'name', name, 'picture', picture)
  redis.call(publish, channel, uuid .. ':' .. S.SCANNED)
  return scanned('ok')
elseif action == A.CONFIRM then
  -- Only a scanned session can be confirmed: the app has then been given
  -- the requesting PC's details (ip, browser, time) to show before this.
  if status ~= S.SCANNED then
    return {'not_scanned', status}
  end
  redis.call('HSET', key, 'status', S.CONFIRMED, 'sub', sub, 'name', name, 'picture', picture, 'code', code)
  -- The PC now has code_ttl to collect the login, however little was left.
  redis.call('PEXPIRE', key, code_ttl_ms)
  redis.call(publish, channel, uuid .. ':' .. S.CONFIRMED)
  audit(stream, {'outcome', O.CONFIRMED, 'uuid', uuid, 'user', sub, 'ip', ip})
  watch(deadlines, uuid, ARGV[11])
  return {'ok', S.CONFIRMED}
elseif action == A.CANCEL then
  redis.call('HSET', key, 'status', S.DENIED, 'denied_by', sub)
  redis.call(publish, channel, uuid .. ':' .. S.DENIED)
  audit(stream, {'outcome', O.DENIED, 'uuid', uuid, 'user', sub, 'ip', ip})
  unwatch(deadlines, uuid)
  return {'ok', S.DENIED}
end
return redis.error_reply('unknown action ' .. action)
