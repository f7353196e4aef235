-- Counts one request in a fixed window; the window opens with the first.
-- The prelude ratelimit.py puts before this script defines rate_hit() (RATE_HIT_LUA).
-- KEYS[1]  the counter of one rule and one client
-- ARGV     window_ms, limit
-- Returns  0 when allowed, else the ms until the window closes.
return rate_hit(KEYS[1], ARGV[1], ARGV[2])
