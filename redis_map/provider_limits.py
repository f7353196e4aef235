"""The token endpoint's abuse limits, kept in Redis like the login's (``redis_map.ratelimit``).

Fixed windows counted by the same ``rate_hit.lua``, under ``<ns>:rl:`` with a
TTL, clients named by a hash: requests per client IP, requests per client,
and failed client authentications per (IP, client), which, past their limit,
refuse that IP's next attempts for that client until the window ends; so
repeated bad secrets are slowed without anyone being able to lock a client
out for everyone by sending bad secrets in its name.  A request is counted
once its client's secret is checked (a request refused before costs no
Redis): against its IP, and an authenticated token request against its
client, in the same round trip as the look at that IP's failures for it.
An authenticated token request is counted inside its grant's script
(``TokenCount``, ``TOKEN_LIMITS_LUA``), first, so a refused one changes
nothing; on a Cluster, where the counters are in other slots than the
grant, by ``check`` before it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from login.errors import RateLimited
from redis_map.batch import Call, in_one_trip
from redis_map.connection.connect import RedisClient
from redis_map.connection.script import Script
from redis_map.errors import storage_errors
from redis_map.keys import KeySpace
from redis_map.limit_scripts import RATE_HIT_LUA, RATE_HIT_SCRIPT

#: token, revocation and introspection requests per client IP per minute (an office behind one NAT included)
ENDPOINT_IP = 300
#: the same per client: a busy site's backend exchanges a code per login and refreshes per user
ENDPOINT_CLIENT = 1200
#: failed client authentications per (client IP, client) per minute, before that IP is refused for that client
SECRET_FAILURES = 10
#: the window of every limit here, in seconds
WINDOW = 60.0


#: Lua function for a grant script that counts its token request first, put before it (with RATE_HIT_LUA):
#: ``token_limits(ip_key, failures_key, client_key, window_ms, ip_limit, client_limit, failures_limit)``
#: counts the request against its IP and its client and looks at that IP's failed secrets for the client, as
#: ``ProviderLimits.check`` does in a pipeline; nil when allowed, else ``{wait_ms, why}`` (why: ``ip``,
#: ``secret``, ``client``, in the order ``check`` refuses them)
TOKEN_LIMITS_LUA = (
    RATE_HIT_LUA
    + """
local function token_limits(ip_key, failures_key, client_key, window_ms, ip_limit, client_limit, failures_limit)
  local ip_wait = rate_hit(ip_key, window_ms, ip_limit)
  local client_wait = rate_hit(client_key, window_ms, client_limit)
  if ip_wait > 0 then
    return {ip_wait, 'ip'}
  end
  local failures = tonumber(redis.call('GET', failures_key) or '0')
  if failures >= tonumber(failures_limit) then
    local ttl = redis.call('PTTL', failures_key)
    if ttl > 0 then
      return {ttl, 'secret'}
    end
  end
  if client_wait > 0 then
    return {client_wait, 'client'}
  end
  return nil
end
"""
)

#: what a refusal for too many failed secrets says
FAILURES_MESSAGE = "Too many failed client authentications; try again later."


def _tag(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def refusal(wait_ms: int, why: str) -> RateLimited:
    """The 429 of a token request refused by ``token_limits`` (``why``: ip, secret or client)."""
    if why == "secret":
        return RateLimited(wait_ms / 1000, FAILURES_MESSAGE)
    return RateLimited(wait_ms / 1000)


@dataclass
class TokenCount:
    """One authenticated token request, to be counted by its grant's script (``token_limits``) first.

    ``counted`` is set once a script counted it: a request refused before (a malformed code, a scope it may not
    narrow to) is counted apart, by ``ProviderLimits.check``, so a locked-out IP is refused whatever it sent.
    """

    #: the IP's counter, that IP's failed secrets for the client, the client's counter
    keys: tuple[str, str, str]
    #: window_ms, the IP's limit, the client's limit, the failures' limit
    args: tuple[int, int, int, int]
    counted: bool = False


class ProviderLimits:
    """Raises RateLimited (429 with Retry-After) past a limit; ``enabled=False``: no limits, no Redis calls."""

    def __init__(self, redis: RedisClient, keys: KeySpace, *, enabled: bool = True) -> None:
        self._redis = redis
        self._keys = keys
        self.enabled = enabled
        self._hit = Script(redis, RATE_HIT_SCRIPT)

    def token_request(self, ip: str, client_id: str) -> TokenCount | None:
        """An authenticated token request's counts, for its grant's script; None with the limits off."""
        if not self.enabled:
            return None
        keys = (
            self._keys.rate_limit("oidc_ip", _tag(ip)),
            self._keys.rate_limit("oidc_secret", _tag(ip, client_id)),
            self._keys.rate_limit("oidc_client", _tag(client_id)),
        )
        return TokenCount(keys, (int(WINDOW * 1000), ENDPOINT_IP, ENDPOINT_CLIENT, SECRET_FAILURES))

    async def check(self, ip: str, client_id: str, *, count_client: bool = False) -> None:
        """Counts the request against its IP (and with ``count_client`` against the client), and refuses an
        IP that failed too often for this client until its window ends; in one round trip."""
        if not self.enabled:
            return
        key = self._keys.rate_limit("oidc_secret", _tag(ip, client_id))
        window_ms = int(WINDOW * 1000)
        calls: list[Call] = [
            (self._hit, [self._keys.rate_limit("oidc_ip", _tag(ip))], [window_ms, ENDPOINT_IP]),
            ("GET", [key]),
            ("PTTL", [key]),
        ]
        if count_client:
            calls.append(
                (self._hit, [self._keys.rate_limit("oidc_client", _tag(client_id))], [window_ms, ENDPOINT_CLIENT])
            )
        async with storage_errors():
            ip_wait_ms, count, ttl_ms, *client_wait_ms = await in_one_trip(self._redis, calls)
        if ip_wait_ms:
            raise RateLimited(int(ip_wait_ms) / 1000)
        if count is not None and int(count) >= SECRET_FAILURES and int(ttl_ms) > 0:
            raise refusal(int(ttl_ms), "secret")
        if client_wait_ms and client_wait_ms[0]:
            raise RateLimited(int(client_wait_ms[0]) / 1000)

    async def failed(self, ip: str, client_id: str) -> None:
        """Counts one failed authentication of ``client_id`` from ``ip``."""
        if self.enabled:
            key = self._keys.rate_limit("oidc_secret", _tag(ip, client_id))
            async with storage_errors():
                await self._hit(keys=[key], args=[int(WINDOW * 1000), SECRET_FAILURES])
