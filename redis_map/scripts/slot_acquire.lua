-- Takes one slot of a concurrency cap, if one is free.
-- The prelude ratelimit.py puts before this script defines slot_take() (SLOT_TAKE_LUA).
-- KEYS[1]  a sorted set of holders, scored by the time their slot lapses
-- ARGV     now_ms, hold_ms, limit, holder
-- Returns  1 when taken, else 0.
return slot_take(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
