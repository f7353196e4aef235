"""The load client: a separate process driving one job over real sockets.

``python -m bench.client`` reads one job as JSON on stdin, reports progress on
stderr and prints its figures as one JSON object on stdout.  Jobs:

- ``park``: park N long-polls on a server, measure its RSS per parked waiter,
  then wake a sample of them one at a time, timing wake-sent -> answer (``bench.park``);
- ``hello``: closed-loop ``POST /hello`` on the reference, requests per second (``bench.hello``);
- ``logins``: closed-loop whole logins on the service, with C concurrent PCs (``bench.logins``);
- ``oidc_logins``: the same for a site's login through the OpenID provider
  (``/authorize`` to ``/userinfo``), as a registered client (``bench.oidc_logins``).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from bench.hello import hello_job
from bench.logins import logins_job
from bench.oidc_logins import oidc_logins_job
from bench.park import park_job
from runtime.process import raise_fd_limit

JOBS: dict[str, Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]] = {
    "park": park_job,
    "hello": hello_job,
    "logins": logins_job,
    "oidc_logins": oidc_logins_job,
}


def main() -> None:
    raise_fd_limit()
    job = json.loads(sys.stdin.read())
    result = asyncio.run(JOBS[job["job"]](job))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
