"""Files Muster creates on disk are readable and writable by their owner only.

Where it sits: used wherever Muster creates local state: the development secret key
(:mod:`engine.settings`), the SQLite database file (:func:`engine.store.unit_of_work.make_engine`; SQLite
gives its ``-wal`` and ``-shm`` files the database file's mode) and the demo's service-account key. Files
are created with mode 0600 from the first byte (never written first and narrowed after), folders with 0700.
An existing database file readable by others is narrowed to 0600 when Muster opens it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) as 0700 if it does not exist; an existing folder is left alone."""
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, which is 0600 before any byte is written (replacing an older file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing file keeps its mode through O_CREAT: narrow it first
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def ensure_private(path: Path) -> None:
    """Make sure ``path`` exists as a 0600 file (created empty if missing; narrowed if others could read it)."""
    if not path.exists():
        make_folder(path.parent)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(mode & 0o700)
        log.warning("%s was readable by other users (mode %o): narrowed to owner-only", path, mode)
