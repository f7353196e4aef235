"""The README's "A whole login with curl" runs as written against ``python main.py``, and answers as it shows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.procs import listening_port, run_main

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## A whole login with curl"
#: how long the whole walk-through may take (its /wait is woken by the scan, not left to time out)
TIMEOUT = 60.0


def walkthrough() -> str:
    """The section's shell block, as a reader copies it."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "the section should hold one block to paste"
    return str(blocks[0])


def samples(block: str) -> list[set[str]]:
    """The field names of each sample answer: a ``# {`` comment and its ``#  `` continuation lines."""
    found: list[str] = []
    for line in block.splitlines():
        if line.startswith("# {"):
            found.append(line[2:])
        elif line.startswith("#  ") and found:
            found[-1] += line[3:]
    return [set(re.findall(r'"(\w+)":', sample)) for sample in found]


def fields(value: Any) -> set[str]:
    """Every key of a JSON answer, at any depth."""
    if isinstance(value, dict):
        return set(value).union(*(fields(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(fields(item) for item in value))
    return set()


def require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} not installed: apt-get install {program}")
    return path


def test_the_curl_walkthrough_runs_as_written_and_answers_as_shown() -> None:
    bash, _, _ = require("bash"), require("curl"), require("jq")
    block = walkthrough()
    process = run_main()
    try:
        port = listening_port(process)
        script = block.replace("localhost:8080", f"localhost:{port}")
        done = subprocess.run(
            [bash, "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    finally:
        process.stop()
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]

    shown = samples(block)
    assert len(answers) == len(shown), done.stdout
    # The background /wait answers whenever the scan wakes it: match each sample to any answer.
    unmatched = [sample for sample in shown if not any(fields(answer) == sample for answer in answers)]
    waits_with_code = [answer for answer in answers if answer.get("state") == "confirmed" and "code" in answer]
    if len(waits_with_code) == 2 or any(answer.get("state") == "expired" for answer in answers):
        # A shell that ran the background curl only after the confirm (or the exchange): that /wait answered
        # confirmed with the code (or expired), not scanned; its sample is the scanned /wait's.
        scanned_wait = fields(waits_with_code[0]) - {"code"}
        unmatched = [sample for sample in unmatched if sample != scanned_wait]
    assert unmatched == [], f"samples whose fields no answer has:\n{unmatched}\nanswers:\n{done.stdout}"
    [me] = [answer for answer in answers if "expires_at" in answer]
    assert me["user"]["sub"] == "demo:alice"  # /me: the login token works
    [token] = [answer for answer in answers if "token_type" in answer]
    assert token["token_type"] == "Bearer"
