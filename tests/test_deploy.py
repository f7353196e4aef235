"""``deploy/qrlogin.service``: a unit systemd accepts, with the settings operations rely on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.settings_reader import read_settings
from runtime.supervisor import ORPHAN_STOP_MARGIN

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "qrlogin.service"
#: where the unit expects the checkout and its virtual environment
INSTALLED = "/opt/qrlogin"
#: parked /waits one process must be able to hold (each a socket, plus a few for Redis and the auth server)
PARKED_CONNECTIONS = 50_000


def settings(text: str) -> dict[str, str]:
    """The unit's ``Key=value`` lines (the last of each key)."""
    return dict(re.findall(r"^(\w+)=(.*)$", text, flags=re.MULTILINE))


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, f"not a time span this test reads: {value!r}"
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed: apt-get install systemd")
    # verify refuses an ExecStart whose program does not exist: check a copy
    # pointed at this checkout and the interpreter running the tests.
    text = UNIT.read_text()
    local = text.replace(f"{INSTALLED}/venv/bin/python", sys.executable).replace(INSTALLED, str(ROOT))
    copy = tmp_path / UNIT.name
    copy.write_text(local)
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False)
    # An unknown key or a misplaced one is only a warning: it must not be there either.
    assert (done.returncode, done.stderr.strip()) == (0, ""), done.stderr


def test_the_unit_runs_as_its_own_user_with_settings_from_a_file_and_hardened() -> None:
    unit = settings(UNIT.read_text())
    assert unit["User"] == "qrlogin" and unit["Group"] == "qrlogin"
    assert unit["EnvironmentFile"].startswith("/etc/qrlogin/")
    assert unit["ExecStart"] == f"{INSTALLED}/venv/bin/python {INSTALLED}/main.py"
    assert unit["Restart"] == "on-failure"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert unit[key] == value, key
    assert int(unit["LimitNOFILE"]) >= PARKED_CONNECTIONS


def test_the_unit_stops_the_supervisor_alone_and_waits_longer_than_a_graceful_stop() -> None:
    unit = settings(UNIT.read_text())
    # SIGTERM to the main process only: the supervisor passes it on to each
    # worker once; the whole control group would get it twice.
    assert unit["KillMode"] == "mixed" and unit["KillSignal"] == "SIGTERM"
    # The service's own stop ends by --stop-timeout; a worker whose supervisor
    # died exits ORPHAN_STOP_MARGIN later at the latest. systemd must not cut either short.
    stop_timeout = read_settings([], {}).stop_timeout
    assert seconds(unit["TimeoutStopSec"]) > stop_timeout + ORPHAN_STOP_MARGIN
