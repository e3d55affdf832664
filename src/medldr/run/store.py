"""responses.jsonl: append-only, one fsync'd line per answer the moment it arrives; a torn last line is repaired."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import orjson

from medldr.errors import MedldrError


class ResponseStore:
    """Appends records to a JSONL file and reads back what is already there (for resuming)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.repaired_bytes = 0
        self._fd: int | None = None

    def load(self, *, repair: bool = True) -> list[dict[str, Any]]:
        """Every complete record already stored. A last line cut off by a crash is removed (and counted); with
        ``repair=False`` (a reader that holds no lock, such as a dry run) it is only skipped."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data) and repair:  # the process died inside a write: drop the torn tail
            self.repaired_bytes = len(data) - keep
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)
                fh.flush()
                os.fsync(fh.fileno())
        records = []
        for number, line in enumerate(data[:keep].splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                raise MedldrError(f"{self.path}: line {number} is not JSON; the file was edited by hand?") from None
        return records

    def write(self, record: dict[str, Any]) -> None:
        """Write one record as one line with a single write call (in the kernel's hands at once: a killed process
        loses nothing written); ``sync`` makes it durable."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        line = orjson.dumps(record) + b"\n"
        written = os.write(self._fd, line)
        if written != len(line):  # the disk filled mid-line: take the fragment back so later lines stay whole
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
            raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({self.path}: a record did not fit)")

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and fsync it."""
        self.write(record)
        self.sync()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class GroupCommit:
    """Async appends whose fsyncs are shared: each ``append`` returns once its line is on disk, and lines that
    arrive while a sync is running are made durable together by the next one (one fsync per burst, not per line)."""

    def __init__(self, store: ResponseStore) -> None:
        self.store = store
        self._written = 0
        self._synced = 0
        self._lock = asyncio.Lock()

    async def append(self, record: dict[str, Any]) -> None:
        self.store.write(record)
        self._written += 1
        mine = self._written
        async with self._lock:
            if self._synced < mine:
                covered = self._written
                await asyncio.to_thread(self.store.sync)
                self._synced = covered
