"""Stale temporary directories: a new start removes those a killed process left, never one still in use."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.tempdirs import make_owned_dir, remove_stale_dirs

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "qrlogin-test-"
#: how long a helper process may take to make its directory or to exit
TIMEOUT = 30.0

#: a process that makes an owned directory in argv[1] and prints its path; argv[2] says what then:
#: "exit" (killed, leaving it), "hold" (lives until its stdin closes), "orphan" (exits, leaving a
#: forked child that holds the lock until its stdin closes, as an orphaned worker would)
MAKER = """
import os, sys
from pathlib import Path
from runtime.tempdirs import make_owned_dir

made = make_owned_dir(sys.argv[3], Path(sys.argv[1]))
if sys.argv[2] == "orphan" and os.fork() != 0:
    os._exit(0)
print(made.path, flush=True)
if sys.argv[2] != "exit":
    sys.stdin.read()
os.close(made.lock_fd)  # before stdout closes: the test takes stdout's EOF as the lock's release
os._exit(0)
"""


class Maker:
    def __init__(self, root: Path, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", MAKER, str(root), mode, PREFIX],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.path = Path(self.process.stdout.readline().strip())
        if mode != "hold":
            self.process.wait(TIMEOUT)  # the maker is gone (and reaped): only its directory is left

    def release(self) -> None:
        """Closes the holder's stdin: it exits, and its lock goes with it."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.stdout.read()  # EOF once every holder of the pipe has exited
        self.process.wait(TIMEOUT)


@pytest.fixture
def makers(tmp_path: Path) -> Iterator[list[Maker]]:
    made: list[Maker] = []
    yield made
    for maker in made:
        if maker.process.stdin is not None and not maker.process.stdin.closed:
            maker.release()


def test_only_directories_whose_maker_is_gone_and_lock_free_are_removed(tmp_path: Path, makers: list[Maker]) -> None:
    # The killed one last: making a directory clears the stale ones first.
    live, orphaned, killed = (Maker(tmp_path, mode) for mode in ("hold", "orphan", "exit"))
    makers += [live, orphaned, killed]
    older = tmp_path / f"{PREFIX}unknown"  # a name without a pid (an older version's): nobody to ask
    older.mkdir()
    assert all(path.is_dir() for path in (killed.path, live.path, orphaned.path))

    assert remove_stale_dirs(PREFIX, tmp_path) == [killed.path]
    assert live.path.is_dir() and orphaned.path.is_dir() and older.is_dir()

    orphaned.release()  # the last process using it exits
    assert remove_stale_dirs(PREFIX, tmp_path) == [orphaned.path]
    assert live.path.is_dir() and older.is_dir()


def test_a_new_directory_clears_the_stale_ones_of_its_kind_only(tmp_path: Path, makers: list[Maker]) -> None:
    killed = Maker(tmp_path, "exit")
    other_kind = tmp_path / f"qrlogin-other-{killed.process.pid}-x"
    other_kind.mkdir()

    made = make_owned_dir(PREFIX, tmp_path)
    try:
        assert not killed.path.exists() and other_kind.is_dir()
        assert remove_stale_dirs(PREFIX, tmp_path) == []  # ours is alive and locked
    finally:
        made.remove()
    assert not made.path.exists()
