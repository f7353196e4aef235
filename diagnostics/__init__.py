"""What benchmarks and tests use to look inside the service; off by default, outside the core path.

A plug-in: the service's packages never import it; the composition root
mounts ``routes()`` and starts ``start_probe()`` when asked (``--loop-probe``).
"""

from __future__ import annotations

from diagnostics.loopprobe import LoopLagProbe
from diagnostics.plugin import routes, start_probe

__all__ = ["LoopLagProbe", "routes", "start_probe"]
