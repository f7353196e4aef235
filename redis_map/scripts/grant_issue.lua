-- Stores a new grant holding only its code, with its TTL, and audits it, in one step.
-- The prelude grants.py puts before this script defines E (the audited events) and audit().
-- KEYS[1]  the grant's hash; KEYS[2] the audit stream (absent on a Cluster: the caller audits)
-- ARGV     ttl_ms, grant_id, ip, then the grant's fields as field, value pairs
local fields, client, user = {}, '', ''
for i = 4, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  if ARGV[i] == 'client_id' then client = ARGV[i + 1] elseif ARGV[i] == 'sub' then user = ARGV[i + 1] end
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
audit(KEYS[2], {'outcome', E.CODE_ISSUED, 'grant', ARGV[2], 'client', client, 'user', user, 'ip', ARGV[3]})
return 1
