"""Fresh loopback source addresses for the jobs that log in as new PCs and phones, and a login's connections
from them."""

from __future__ import annotations

from bench.client_tools import HOST
from bench.http import Connection, HTTPError

#: addresses one spread job may use: 127.<block>.y.z, z neither 0 nor 255
ADDRESSES_PER_BLOCK = 256 * 254


class Addresses:
    """Fresh loopback source addresses, 127.<block>.y.z, one after the other: each login's PC and phone their own.

    The service's abuse limits count per client IP (and per user), as for real
    PCs and phones, each of which logs in once; so the benchmark's load, spread
    over fresh addresses and users, stays under every limit with the limits on.
    """

    def __init__(self, block: int) -> None:
        if not 1 <= block <= 255:
            raise ValueError(f"an address block is 1..255, not {block}")
        self.block = block
        self.used = 0

    def next(self) -> str:
        if self.used >= ADDRESSES_PER_BLOCK:
            raise HTTPError(f"the {ADDRESSES_PER_BLOCK} addresses of 127.{self.block}.0.0/16 are used up")
        high, low = divmod(self.used, 254)
        self.used += 1
        return f"127.{self.block}.{high}.{low + 1}"


def fresh_connections(port: int, addresses: Addresses) -> list[Connection]:
    """A new PC's and phone's connections, not yet open: the PC's two (its requests, its long-poll) from a fresh
    address, the phone's from another."""
    pc_address, phone_address = addresses.next(), addresses.next()
    return [Connection(HOST, port, address) for address in (pc_address, pc_address, phone_address)]
