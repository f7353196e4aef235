"""The diagnostics plug-in: what the composition root mounts when ``--loop-probe`` is on.

Benchmarks look inside the service through a loop-lag probe and
``GET /debug/stats``.  Neither is part of the service: ``handlers/``,
``login/`` and ``redis_map/`` never import ``diagnostics``; the composition
root (``main.py``) starts the probe and adds these routes to the app::

    probe = diagnostics.start_probe()
    stack.callback(probe.stop)
    app.add_handlers(r".*", diagnostics.routes(registry, probe))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tornado.routing import URLSpec

from diagnostics.loopprobe import INTERVAL, LoopLagProbe

if TYPE_CHECKING:
    from login.waiters import WaiterRegistry

#: the path the stats are served at
STATS_PATH = r"/debug/stats"


def start_probe(interval: float = INTERVAL) -> LoopLagProbe:
    """A probe started on the running loop; the caller stops it (``probe.stop()``)."""
    probe = LoopLagProbe(interval)
    probe.start()
    return probe


def probe_stats(probe: LoopLagProbe, flag: Callable[[str], str | None]) -> dict[str, float | int | str]:
    """The probe's figures, then the request's flags applied to it: ``reset=1`` zeroes it, ``callbacks=1`` (``0``)
    starts (stops) timing every callback, ``lateness=0`` (``1``) stops (starts) the lateness timer.

    ``flag(name)`` is the query argument's value, or None if absent.  The service's ``/debug/stats`` and the
    benchmark's bare-Tornado reference (``bench/reference.py --loop-probe``) both answer through this.
    """
    figures = probe.as_json()
    if flag("reset") == "1":
        probe.reset()
    callbacks = flag("callbacks")
    if callbacks is not None:
        probe.time_callbacks(callbacks == "1")
    lateness = flag("lateness")
    if lateness is not None:
        probe.time_lateness(lateness == "1")
    return figures


def routes(registry: WaiterRegistry, probe: LoopLagProbe) -> list[URLSpec]:
    """The diagnostics routes, for ``Application.add_handlers`` or the app's route list."""
    # Imported here: the stats handler is built on the service's handlers, and
    # importing diagnostics for the probe or the userinfo test server alone
    # must not import them (nor form a cycle with a module importing diagnostics).
    from diagnostics.debug import DebugStatsHandler

    return [URLSpec(STATS_PATH, DebugStatsHandler, dict(registry=registry, probe=probe))]
