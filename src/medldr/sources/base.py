"""What the build needs from a raw EHR source, whatever its vendor: the files it reads (hashed into the build
manifest), its release, which optional modules it has, its tables as DuckDB views, and its read errors as one line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import duckdb

from medldr.errors import MedldrError


class SourceTable(Protocol):
    key: str  # 'module/name', as recorded in the build manifest
    path: Path


class Source(Protocol):
    """A checked raw-data layout the build reads; nothing downstream of the build sees it (later stages read the
    source's name and release from the build manifest)."""

    name: str  # as the build manifest records it, e.g. "mimic-iv"
    version: str  # its release

    @property
    def tables(self) -> Mapping[str, SourceTable]: ...

    def has(self, module: str) -> bool:
        """Whether an optional module (e.g. MIMIC-IV's ED or note module) is present."""
        ...

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Expose every table as a DuckDB view under its table name."""
        ...

    def describe_error(self, err: duckdb.Error) -> MedldrError:
        """A read error as one line naming the file it came from."""
        ...
