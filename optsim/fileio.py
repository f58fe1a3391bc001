"""Atomic JSON files shared between processes: a reader sees the old file or the new one, never half."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Let ``write`` fill a temp file beside ``path``, fsync it, then rename it over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (the feed's 1 MB quotes.json: orjson is ~5x json)."""
    atomic_write(path, lambda fh: fh.write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)))


def private_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) 0700: orders, tokens and incidents are nobody else's business. An existing
    looser one of ours is tightened, as ``private_file`` does; one of someone else's that others can read
    raises PermissionError."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path, 0o700)
    return path


def _tighten(path: Path, mode: int) -> None:
    st = path.stat()
    if st.st_mode & 0o077:
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise PermissionError(f"{path} is readable by others and not ours to fix (mode {st.st_mode & 0o777:o})")
        path.chmod(mode)


def private_file(path: str | os.PathLike) -> Path:
    """Make sure ``path`` exists and only its owner can read it: created 0600, an existing looser one tightened.

    Raises PermissionError when the file is readable by others and belongs to someone else (it cannot be fixed
    and must not be trusted).
    """
    path = Path(path)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    _tighten(path, 0o600)
    return path


def read_json(path: str | os.PathLike) -> Any | None:
    """The parsed file, or None when it does not exist yet."""
    try:
        with open(path, "rb") as fh:
            return orjson.loads(fh.read())
    except FileNotFoundError:
        return None
