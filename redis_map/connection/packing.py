"""Packing commands in C: redis-py's connections, but ``pack_command`` through ``hiredis.pack_command``.

redis-py's asyncio connections pack every command in Python (its sync client
uses hiredis when installed).  These classes give each kind of connection our
pools make (TCP, TLS, unix socket, Sentinel-managed with or without TLS) the
same bytes from hiredis.  Anything hiredis does not take as it is (a bool, a
bytearray, an int or float subclass, None, a list) goes to redis-py's own
packer, so redis-py's bytes and its DataError are kept exactly; so does any
encoding other than strict UTF-8, which is the only one hiredis writes.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    from hiredis import pack_command as _hiredis_pack

#: the encodings hiredis writes a str in, as redis-py's encoder would with these settings
_HIREDIS_ENCODINGS = frozenset({"utf-8", "utf8", "UTF-8", "UTF8"})


class HiredisPacking(AbstractConnection):
    """``pack_command`` by hiredis where it gives redis-py's bytes; redis-py's own packer otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        encoder = self.encoder
        #: whether hiredis packs this connection's commands (it writes str only as strict UTF-8)
        self.packs_in_c = (
            HIREDIS_AVAILABLE  # hiredis is a requirement, but redis-py ignores one older than 3.2
            and encoder.encoding in _HIREDIS_ENCODINGS
            and encoder.encoding_errors == "strict"
        )

    def pack_command(self, *args: Any) -> list[bytes]:
        if not self.packs_in_c:
            return super().pack_command(*args)
        first = args[0]
        # As redis-py: a command name may carry its subcommand ("SCRIPT LOAD"); Redis wants them apart.
        if isinstance(first, str):
            words: tuple[Any, ...] = tuple(first.encode().split()) + args[1:]
        elif isinstance(first, bytes):
            words = tuple(first.split()) + args[1:] if b" " in first else args
        else:
            return super().pack_command(*args)
        try:
            return [_hiredis_pack(words)]
        except TypeError:
            # A kind hiredis does not take as such: redis-py's packer packs it, or raises its DataError.
            return super().pack_command(*args)


class PackedConnection(HiredisPacking, Connection):
    """A TCP connection packing with hiredis."""


class PackedSSLConnection(HiredisPacking, SSLConnection):
    """A TLS connection (``rediss://``) packing with hiredis."""


class PackedUnixConnection(HiredisPacking, UnixDomainSocketConnection):
    """A unix-socket connection (``unix://``) packing with hiredis."""


class PackedSentinelConnection(HiredisPacking, SentinelManagedConnection):
    """A connection to a Sentinel-managed master packing with hiredis."""


class PackedSentinelSSLConnection(HiredisPacking, SentinelManagedSSLConnection):
    """A TLS connection to a Sentinel-managed master packing with hiredis."""


#: redis-py's connection class -> ours packing with hiredis (every kind our pools are built with)
PACKED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: PackedConnection,
    SSLConnection: PackedSSLConnection,
    UnixDomainSocketConnection: PackedUnixConnection,
    SentinelManagedConnection: PackedSentinelConnection,
    SentinelManagedSSLConnection: PackedSentinelSSLConnection,
}


def packed(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """The class packing with hiredis for redis-py's ``connection_class``; a class of anyone else's unchanged."""
    return PACKED.get(connection_class, connection_class)
