"""The runs on asyncio's own loop with every callback timed: the service's longest single callback, and bare
Tornado's beside it in the same run as its reference.

uvloop runs callbacks in C, where they cannot be timed one by one, so these
runs use asyncio's loop (same code).  The servers' thread clock, which the
probe reads around each callback, sometimes jumps on a shared VM: bare
Tornado timed by the same probe under the same load shows how long a
callback doing no work of ours can read there.  It runs the service's
garbage-collector policy too (``--collector``): without it, its longest
callback is CPython's full collection of a heap of parked requests (hundreds
of milliseconds at 15,000), which the service's policy does not run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Bench

#: bare Tornado as the timed runs' reference: the service's loop probe and garbage-collector policy
TIMED_REFERENCE = ("--loop-probe", "--collector")
#: the asyncio-loop runs of logins (throughput, then every callback timed) are this long, of --duration
ASYNCIO_LOOP_SHARE = 0.5


def parking_bursts(bench: Bench, n: int) -> dict[str, dict[str, Any]]:
    """``n`` waiters parked on the service, then on bare Tornado (TIMED_REFERENCE), every callback timed."""
    with bench.service("service-asyncio", event_loop="asyncio") as service:
        ours = bench.park("service", service, n, time_callbacks=True)
    with bench.reference("reference-asyncio", "asyncio", TIMED_REFERENCE) as reference:
        bare = bench.park("reference", reference, n, time_callbacks=True)
    return {"asyncio_loop": ours, "reference_asyncio_loop": bare}


def timed_logins(bench: Bench, job: str, name: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The login ``job`` on a service ``name``: throughput, then the same load again, every callback timed."""
    # Imported here: bench.run imports this module.
    from bench.run import LOGIN_ENV

    with bench.service(name, event_loop="asyncio", env=LOGIN_ENV) as service:
        return bench.loop(job, service, time_callbacks=True, share=ASYNCIO_LOOP_SHARE, extra=extra)


def timed_reference(bench: Bench) -> dict[str, Any]:
    """Bare Tornado (TIMED_REFERENCE) sent the full logins' traffic shape (``hello`` with an address block), as
    ``timed_logins`` runs them: the same-run reference for their longest callback."""
    with bench.reference("reference-asyncio", "asyncio", TIMED_REFERENCE) as reference:
        return bench.loop("hello", reference, time_callbacks=True, share=ASYNCIO_LOOP_SHARE, extra=bench.spread())
