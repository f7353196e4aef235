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


def routes(registry: WaiterRegistry, probe: LoopLagProbe) -> list[URLSpec]:
    """The diagnostics routes, for ``Application.add_handlers`` or the app's route list."""
    # Imported here: the stats handler is built on the service's handlers, and
    # importing diagnostics for the probe or the userinfo test server alone
    # must not import them (nor form a cycle with a module importing diagnostics).
    from diagnostics.debug import DebugStatsHandler

    return [URLSpec(STATS_PATH, DebugStatsHandler, dict(registry=registry, probe=probe))]
