-- Whether an access token still holds: its grant active, and the token itself not revoked; and its user.
-- KEYS[1]  the grant's hash; KEYS[2] the token's revocation mark (same slot)
-- Returns  {status ('' when the grant is gone), 1 if the token was revoked else 0, name, picture}
local fields = redis.call('HMGET', KEYS[1], 'status', 'name', 'picture')
return {fields[1] or '', redis.call('EXISTS', KEYS[2]), fields[2] or '', fields[3] or ''}
