"""The session store's Lua scripts as it sends them: each ``scripts/*.lua`` after a prelude of the Python enums
and the shared Lua functions (audit, rate limits, a wait's parking test), and the SHA1 Redis knows each by."""

from __future__ import annotations

import hashlib
from importlib import resources

from login.models import Action, Outcome, Status
from redis_map.audit import AUDIT_LUA
from redis_map.limit_scripts import RATE_HIT_LUA, SLOT_TAKE_LUA
from redis_map.session_fields import EXCHANGED

_SCRIPTS = resources.files(__package__) / "scripts"

#: Lua function for the scripts of a wait's reads: ``parks(fields, cursor_hash, known)``, whether a wait that came
#: with the cursor hashing to ``cursor_hash`` and knowing status ``known`` parks on the session of HGETALL ``fields``
#: (the cursor is right and the session still in that status), as ChangeWaiter decides from the view
PARKS_LUA = """
local function parks(fields, cursor_hash, known)
  local status, hash
  for i = 1, #fields, 2 do
    if fields[i] == 'status' then status = fields[i + 1] elseif fields[i] == 'cursor_hash' then hash = fields[i + 1] end
  end
  return hash == cursor_hash and status == known
end
"""


def script_source(name: str) -> str:
    """The Lua script ``name`` as the store sends it (for SCRIPT LOAD and tests), with the prelude defining
    S (stored statuses), A (actions) and O (audited outcomes) from the Python enums, and the functions of
    AUDIT_LUA, RATE_HIT_LUA, SLOT_TAKE_LUA and PARKS_LUA."""
    statuses = {status.name: int(status) for status in Status if status is not Status.EXPIRED}
    statuses["EXCHANGED"] = EXCHANGED
    status_table = ", ".join(f"{key} = {number}" for key, number in statuses.items())
    action_table = ", ".join(f"{action.name} = '{action.value}'" for action in Action)
    outcome_table = ", ".join(f"{outcome.name} = '{outcome.value}'" for outcome in Outcome)
    prelude = f"local S = {{{status_table}}}\nlocal A = {{{action_table}}}\nlocal O = {{{outcome_table}}}\n"
    return prelude + AUDIT_LUA + RATE_HIT_LUA + SLOT_TAKE_LUA + PARKS_LUA + (_SCRIPTS / name).read_text()


def script_sha(name: str) -> str:
    """The SHA1 Redis knows the script ``name`` by (as EVALSHA sends it; for SCRIPT EXISTS and tests)."""
    return hashlib.sha1(script_source(name).encode(), usedforsecurity=False).hexdigest()
