"""Temporary directories that say who made them, so a later start can clear what a killed run left.

The embedded Redis and the shared metrics of ``--processes`` each live in a
directory of the temp folder, removed on a clean stop.  A ``kill -9`` (or the
OOM killer) skips that, so each new directory is named
``<prefix><pid>-<random>`` and holds a lock file its maker keeps an ``flock``
on for as long as it lives (the workers it forks inherit the lock, and hold it
while they use the directory).  Making a new one first removes those of its
kind that are stale: the named process is gone *and* nobody holds the lock.
Either test alone is not enough: a pid is reused, and a process in another
PID namespace sharing this temp folder has a pid that means nothing here; a
lock is not yet taken in the instant between creating the directory and
locking it, when its maker is certainly alive.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("qrlogin")

#: the file in each directory whose flock says that someone still uses it
LOCK_NAME = ".owner.lock"


@dataclass(frozen=True)
class OwnedDir:
    """A directory made for this run; only the process that made it removes it (forked children share the object)."""

    path: Path
    owner: int
    lock_fd: int

    def remove(self) -> None:
        if os.getpid() != self.owner:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.close(self.lock_fd)  # after the removal: nobody may take it for stale half-way


def make_owned_dir(prefix: str, root: Path | None = None) -> OwnedDir:
    """A fresh ``<prefix><pid>-<random>`` directory in ``root`` (the temp folder), locked; stale ones go first."""
    remove_stale_dirs(prefix, root)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=root))
    fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a fresh file: nobody else can hold it
    return OwnedDir(path, os.getpid(), fd)


def remove_stale_dirs(prefix: str, root: Path | None = None) -> list[Path]:
    """Removes this user's ``<prefix><pid>-*`` directories whose process is gone and whose lock is free."""
    root = Path(root or tempfile.gettempdir())
    named = re.compile(re.escape(prefix) + r"(\d+)-[^/]+")
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = named.fullmatch(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        if _remove_if_unused(entry):
            removed.append(entry)
    if removed:
        names = ", ".join(map(str, removed))
        log.info("removed %d stale directories left by stopped processes: %s", len(removed), names)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (another user's counts: it is alive, we just may not signal it)."""
    if pid <= 0:
        return True  # not a pid we can judge: never remove on its account
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_if_unused(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    # Only real directories of ours: the temp folder is shared, and a name is easy to forge.
    if not path.is_dir() or path.is_symlink() or info.st_uid != os.geteuid():
        return False
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        # Its maker died between creating it and locking it (its pid is gone).
        shutil.rmtree(path, ignore_errors=True)
        return True
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False  # a child of the dead maker (an orphaned worker) still uses it
            raise
        shutil.rmtree(path, ignore_errors=True)
        return True
    finally:
        os.close(fd)
