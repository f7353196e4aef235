"""The benchmark's full logins run with the abuse limits on: each login from addresses and a user of its own."""

from __future__ import annotations

from typing import Any

import pytest

from bench.addresses import Addresses
from bench.http import Connection, HTTPError
from bench.logins import LoginSteps, first_party_login, fresh_login
from redis_map.limit_rules import Rate, RateLimits
from tests.conftest import MakeInstance

#: limits a single address or user reaches on its second login
ONE_LOGIN_EACH = RateLimits(
    uuid_ip=Rate(1, 60), qr_ip=Rate(1, 60), action_ip=Rate(2, 60), action_user=Rate(2, 60), wait_ip=2
)
#: the address block the test's logins come from
BLOCK = 7


def counting(latencies: list[float]) -> tuple[Any, Any]:
    async def timed(call: Any) -> Any:
        latencies.append(0.0)
        return await call

    def counted() -> None:
        latencies.append(0.0)

    return timed, counted


async def test_spread_logins_each_come_from_their_own_pc_and_phone(make_instance: MakeInstance) -> None:
    service = await make_instance(rate_limits=ONE_LOGIN_EACH)
    job = {"port": service.port}
    addresses = Addresses(BLOCK)
    requests: list[float] = []
    timed, counted = counting(requests)
    for _ in range(3):  # each past every limit if it came from the same PC, phone or user
        await fresh_login(
            job, first_party_login, addresses, lambda pc, poll, phone, auth: LoginSteps(
                pc, poll, phone, timed, counted, [], auth
            )
        )  # fmt: skip
    assert len(requests) == 3 * 7
    assert addresses.used == 6
    entries = await service.audit.tail(20)
    exchanged = [entry.fields for entry in entries if entry.outcome == "exchanged"]
    confirmed = [entry.fields for entry in entries if entry.outcome == "confirmed"]
    # The PC's address: 127.7.0.1, .3, .5; the phone's user: user-7-2, -4, -6 (its address the next one).
    assert [fields["ip"] for fields in exchanged] == ["127.7.0.1", "127.7.0.3", "127.7.0.5"]
    assert [fields["ip"] for fields in confirmed] == ["127.7.0.2", "127.7.0.4", "127.7.0.6"]
    assert [fields["user"] for fields in confirmed] == ["user-7-2", "user-7-4", "user-7-6"]


async def test_a_login_refused_by_a_limit_fails_the_benchmark(make_instance: MakeInstance) -> None:
    service = await make_instance(rate_limits=ONE_LOGIN_EACH)
    pc, poll, phone = [await Connection("127.0.0.1", service.port, "127.7.1.1").open() for _ in range(3)]
    timed, counted = counting([])
    steps = LoginSteps(pc, poll, phone, timed, counted, [], {"Authorization": "Bearer user-7-1"})
    try:
        await first_party_login({}, steps)
        with pytest.raises(HTTPError, match="429"):
            await first_party_login({}, steps)  # the same PC again: past its /uuid limit
    finally:
        for conn in (pc, poll, phone):
            conn.close()


def test_addresses_are_fresh_and_within_their_block() -> None:
    addresses = Addresses(3)
    given = [addresses.next() for _ in range(600)]
    assert len(set(given)) == 600
    assert all(a.startswith("127.3.") and a.split(".")[3] not in ("0", "255") for a in given)
    with pytest.raises(ValueError, match=r"1\.\.255"):
        Addresses(0)
