"""qrlogin: scan a QR code with the mobile app to log in on the PC.

``python main.py`` runs on an embedded Redis with demo auth; see ``--help``.
Every option can also be set from the environment as ``QRLOGIN_<NAME>``
(``QRLOGIN_REDIS_URL``, ...); the command line wins.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from runtime import audit_cli, clients_cli, keys_cli
from runtime.logs import set_up_logging
from runtime.server import StartupError, run
from runtime.settings import SettingsError
from runtime.settings_reader import read_settings


def main(argv: Sequence[str] | None = None) -> None:
    """Run the service, or the command named first; an operator's mistake is one line and a non-zero exit."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["audit"]:
        sys.exit(audit_cli.run(arguments[1:], os.environ))
    if arguments[:1] == ["keys"]:
        sys.exit(keys_cli.run(arguments[1:], os.environ))
    if arguments[:1] == ["clients"]:
        sys.exit(clients_cli.run(arguments[1:], os.environ))
    try:
        settings = read_settings(arguments, os.environ)
        set_up_logging(settings.log_level)
        run(settings)
    except (SettingsError, StartupError) as exc:
        sys.exit(f"qrlogin: {exc}")


if __name__ == "__main__":
    main()
