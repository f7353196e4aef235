-- Moves one login session to a new status, atomically, and announces it.
-- KEYS[1]  the session hash
-- ARGV     action ('scan' | 'confirm' | 'cancel'), sub, name, picture,
--          code, code_ttl_ms, channel, uuid, publish command ('PUBLISH',
--          or 'SPUBLISH' on a Cluster: the channel shares the key's slot)
-- Returns  {outcome, status}; outcome is 'ok' (changed and published),
--          'same' (already so, nothing to do), 'not_found',
--          'invalid_state', 'user_mismatch' or 'not_scanned'.  A scan that
--          succeeds ('ok' or 'same') also returns the session as read.lua
--          does: {outcome, status, pttl_ms, field1, value1, ...}, which the
--          app is shown, without a second round trip.
local key = KEYS[1]
local action, sub, name, picture = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local code, code_ttl_ms, channel, uuid = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local publish = ARGV[9] == 'SPUBLISH' and 'SPUBLISH' or 'PUBLISH'

local function scanned(outcome)
  local reply = {outcome, 1, redis.call('PTTL', key)}
  for _, item in ipairs(redis.call('HGETALL', key)) do
    reply[#reply + 1] = item
  end
  return reply
end

local current = redis.call('HMGET', key, 'status', 'sub')
if not current[1] then
  return {'not_found', -1}
end
local status = tonumber(current[1])
local owner = current[2]

-- Only waiting (0) and scanned (1) sessions can move; confirmed, denied
-- and expired ones are final, so nothing can revive or switch them.
if status ~= 0 and status ~= 1 then
  return {'invalid_state', status}
end
-- Once scanned, the session belongs to the user who scanned it.
if owner and owner ~= sub then
  return {'user_mismatch', status}
end

local new_status
if action == 'scan' then
  if status == 1 then
    return scanned('same')
  end
  new_status = 1
  redis.call('HSET', key, 'status', 1, 'sub', sub, 'name', name, 'picture', picture)
  redis.call(publish, channel, uuid .. ':' .. new_status)
  return scanned('ok')
elseif action == 'confirm' then
  -- Only a scanned session can be confirmed: the app has then been given
  -- the requesting PC's details (ip, browser, time) to show before this.
  if status ~= 1 then
    return {'not_scanned', status}
  end
  new_status = 2
  redis.call('HSET', key, 'status', 2, 'sub', sub, 'name', name, 'picture', picture,
             'code', code)
  -- The PC now has code_ttl to collect the login, however little was left.
  redis.call('PEXPIRE', key, code_ttl_ms)
elseif action == 'cancel' then
  new_status = 3
  redis.call('HSET', key, 'status', 3)
else
  return redis.error_reply('unknown action ' .. action)
end

redis.call(publish, channel, uuid .. ':' .. new_status)
return {'ok', new_status}
