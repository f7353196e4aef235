-- Whether an access token still holds: its grant active, and the token itself not revoked.
-- KEYS[1]  the grant's hash; KEYS[2] the token's revocation mark (same slot)
-- Returns  {status ('' when the grant is gone), 1 if the token was revoked else 0}
return {redis.call('HGET', KEYS[1], 'status') or '', redis.call('EXISTS', KEYS[2])}
