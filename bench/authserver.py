"""The benchmark's auth server, in a process of its own: ``diagnostics.userinfo_server``.

``python -m bench.authserver`` logs ``auth listening on http://127.0.0.1:<port>``
on stderr; ``Bearer alice-token`` is a known app credential.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from tornado.log import enable_pretty_logging

from diagnostics.userinfo_server import AuthServer
from runtime.process import raise_fd_limit

log = logging.getLogger("bench.auth")


async def serve() -> None:
    server = AuthServer()
    server.start()
    log.info("auth listening on http://127.0.0.1:%d", server.port)
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop()


def main() -> None:
    enable_pretty_logging()
    raise_fd_limit()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
