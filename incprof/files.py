"""Writing a file the user named: into it, never in place of it.

A path the user gives (``--output``, a baseline to update, a report folder) is theirs:

- a symlink is followed and its target is written; the link stays a link;
- an existing regular file keeps its mode (and owner, where we may set it), and is
  replaced whole: the text goes to a temp file beside it, then one atomic rename, so a
  reader (a CI job, a report build) sees the old file or the new one, never half of one;
- a file with no write permission is refused, even for root, who could replace it;
- a character device, a pipe or a socket (``/dev/stdout``, ``/dev/null``, a FIFO), and
  anything under ``/dev`` or ``/proc``, is written straight through, never replaced;
- a file with other hard links, or in a folder we may not create files in, is rewritten
  in place (a rename would detach it from its other names, or cannot be done);
- a new path is created (atomically) with the mode ``open()`` would give it.

Every failure, a full device included, is an :class:`OSError` whose ``strerror`` says
why; the caller words it as one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# The name that means standard output, as most command-line tools take it.
STDOUT = "-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class Target:
    """Where and how a write to a user's path goes."""

    path: Path  # the real path: symlinks resolved
    how: str  # "new", "replace", "in_place" or "stream"
    existing: os.stat_result | None = None


def _streamed(named: Path, info: os.stat_result) -> bool:
    # /dev/stdout may lead to a regular file the shell opened: write into that file too.
    under_system = str(Path(os.path.abspath(named))).startswith(("/dev/", "/proc/"))
    return under_system or not stat.S_ISREG(info.st_mode)


def target(path: str | Path) -> Target:
    """Resolve ``path`` and decide how to write it; refuse what cannot or must not be."""
    named = Path(path)
    if str(path) in ("", "."):
        raise OSError(errno.EINVAL, "no file name given", str(path))
    try:
        info = os.stat(named)  # follows symlinks
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    if info is not None and _streamed(named, info):
        return Target(named, "stream", info)
    real = Path(os.path.realpath(named))
    folder = real.parent
    if not folder.is_dir():
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
    if info is None:
        if not os.access(folder, os.W_OK):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return Target(real, "new")
    if not info.st_mode & 0o222 or not os.access(real, os.W_OK):
        raise PermissionError(
            errno.EACCES, f"the file is read-only (mode {stat.S_IMODE(info.st_mode):04o})"
        )
    if info.st_nlink > 1 or not os.access(folder, os.W_OK):
        return Target(real, "in_place", info)
    return Target(real, "replace", info)


def write_into(path: str | Path, fill: Callable[[Path], None]) -> Path:
    """Have ``fill`` write a temp file, then put its bytes where ``path`` says (see the
    module's rules); returns the real path written. Raises OSError."""
    where = target(path)
    if where.how in ("new", "replace"):
        _replace(where, fill)
        return where.path
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch) / where.path.name
        fill(tmp)
        data = tmp.read_bytes()
    # Append to what is streamed: /dev/stdout re-opened must not truncate the shell's file.
    with open(where.path, "ab" if where.how == "stream" else "wb") as handle:
        handle.write(data)
    return where.path


def _replace(where: Target, fill: Callable[[Path], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=where.path.parent, prefix=f".{where.path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fill(Path(tmp))
        if where.existing is None:
            # mkstemp makes the file private (0600); give it the mode open() would have.
            os.chmod(tmp, 0o666 & ~_umask())
        else:
            os.chmod(tmp, stat.S_IMODE(where.existing.st_mode))
            if (where.existing.st_uid, where.existing.st_gid) != (os.getuid(), os.getgid()):
                # Only root may give a file away; the mode is kept all the same.
                with contextlib.suppress(PermissionError):
                    os.chown(tmp, where.existing.st_uid, where.existing.st_gid)
        os.replace(tmp, where.path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) into ``path``; raises OSError."""

    def fill(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    return write_into(path, fill)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` into ``path`` (see the module's rules); raises OSError."""

    def fill(tmp: Path) -> None:
        tmp.write_bytes(data)

    return write_into(path, fill)
