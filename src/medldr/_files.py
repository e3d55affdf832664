"""Small file helpers shared by every stage: atomic writes, content hashes, one writer per output folder."""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from medldr.errors import MedldrError

LOCK_NAME = ".medldr.lock"
_held: dict[Path, int] = {}  # folders this process holds, with how many nested holders


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One writer per output folder: an exclusive OS lock (``flock``) on FOLDER/.medldr.lock while a command writes
    there. A second process is refused in one line naming the holder; the lock dies with its process (``kill -9``
    too), so none is ever left to clear by hand. Re-entrant within a process (the judge's run inside
    ``overdiagnosis``)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key = folder.resolve()
        fd = None if key in _held else os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise MedldrError(f"{folder}: cannot write here ({err.strerror or err})") from None
    if fd is None:  # this process holds it already
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 512).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise MedldrError(
            f"{folder}: another medldr process is writing here ({holder}); wait for it or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}, medldr {sys.argv[1] if len(sys.argv) > 1 else ''}".strip().encode() + b"\n")
    _held[key] = 1
    try:
        yield
    finally:
        del _held[key]
        os.close(fd)  # releases the lock


def read_text(path: Path) -> str:
    """A text file's contents; a file that is not UTF-8, or a folder in its place, is one line naming it (a missing
    file stays FileNotFoundError, which each caller words for what it expected)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise MedldrError(f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})") from None
    except IsADirectoryError:
        raise MedldrError(f"{path}: a folder, not a file") from None


def weights_identity(path: Path) -> dict[str, Any]:
    """What a local model is, exactly: a file's name, size and SHA-256, or a folder's (its own files' SHA-256s
    hashed in name order, so the same weights give the same digest wherever they are copied; subfolders such as a
    training's checkpoint-N/ are not the model and are left out)."""
    path = Path(path)
    if path.is_file():
        return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    lines = "".join(f"{p.name} {sha256_file(p)}\n" for p in files)
    return {
        "folder": path.name,
        "files": len(files),
        "bytes": sum(p.stat().st_size for p in files),
        "sha256": hashlib.sha256(lines.encode()).hexdigest(),
    }


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks so a 2 GB table needs no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class AtomicFile:
    """A text file written under a temporary name and renamed into place on success, so readers never see half.

    On an exception the temporary file is removed and any earlier file at ``path`` stays as it was.
    """

    def __init__(self, path: Path, *, binary: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode a plain open() would
        self._fh = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    def write(self, data: bytes | str) -> None:
        self._fh.write(data)

    def write_line(self, line: str) -> None:
        self._fh.write(line)
        self._fh.write("\n")

    def sync(self) -> None:
        """Flush to disk now (a full disk fails here, while the file at ``path`` is still the earlier one)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self._tmp, self.path)
        else:
            self._fh.close()
            Path(self._tmp).unlink(missing_ok=True)


def atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` (each without its newline) to ``path`` atomically."""
    with AtomicFile(path) as out:
        for line in lines:
            out.write_line(line)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with AtomicFile(path, binary=True) as out:
        out.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, ending with one newline."""
    atomic_write_lines(path, [text.rstrip("\n")])
