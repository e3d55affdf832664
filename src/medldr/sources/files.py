"""Reading raw table files, whatever the source: locating a table's file (.csv.gz, .csv or .parquet), the DuckDB
table function that reads it, the checks that run before any work (columns present, rows present), typed views, and
a read error as one line naming the file."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from medldr.errors import MedldrError

SUFFIXES = (".csv.gz", ".csv", ".parquet")


@dataclass(frozen=True)
class Table:
    """One located table file."""

    module: str
    name: str
    path: Path

    @property
    def key(self) -> str:
        return f"{self.module}/{self.name}"


Columns = Callable[[Table], Mapping[str, str]]
"""A table -> the columns the build reads from it, with their DuckDB types."""


def sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def reader(path: Path, types: dict[str, str] | None = None) -> str:
    """The DuckDB table function that reads ``path``; CSV columns named in ``types`` are parsed as those types."""
    if path.name.endswith(".parquet"):
        return f"read_parquet({sql_str(path)})"
    options = "header=true, delim=',', quote='\"', escape='\"'"
    if types:
        options += ", types={" + ", ".join(f"{sql_str(c)}: {sql_str(t)}" for c, t in types.items()) + "}"
    else:
        options += ", all_varchar=true"
    return f"read_csv({sql_str(path)}, {options})"


def find_table_file(folder: Path, module: str, name: str) -> Path:
    for suffix in SUFFIXES:
        candidate = folder / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    looked = ", ".join(f"{name}{suffix}" for suffix in SUFFIXES)
    raise MedldrError(f"{folder}: table {module}/{name} not found (looked for {looked})")


def describe_error(err: duckdb.Error, paths: list[Path]) -> MedldrError:
    """Turn a DuckDB error into one line that names the file it came from."""
    text = " ".join(str(err).split())
    culprit = next((p for p in paths if str(p) in text), None)
    if "out of memory" in text.lower():
        return MedldrError(f"DuckDB ran out of memory; raise --memory-limit or lower --threads ({text})")
    if "gzip" in text.lower():
        where = culprit or "a .csv.gz source"
        return MedldrError(f"{where}: truncated or corrupt gzip file ({text})")
    if culprit is not None:
        return MedldrError(f"{culprit}: cannot be read: {text}")
    return MedldrError(f"reading the sources failed: {text}")


def check_columns(con: duckdb.DuckDBPyConnection, table: Table, columns: dict[str, str]) -> None:
    try:
        found = [row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {reader(table.path)}").fetchall()]
    except duckdb.Error as err:
        raise describe_error(err, [table.path]) from None
    missing = [column for column in columns if column not in found]
    if missing:
        raise MedldrError(f"{table.path}: table {table.key} is missing column {', '.join(map(repr, missing))}")


def check_not_empty(con: duckdb.DuckDBPyConnection, table: Table, remedy: str) -> None:
    try:
        rows = con.sql(f"SELECT 1 FROM {reader(table.path)} LIMIT 1").fetchall()
    except duckdb.Error as err:
        raise describe_error(err, [table.path]) from None
    if not rows:
        raise MedldrError(f"{table.path}: table {table.key} is empty (0 rows); {remedy}")


def register_typed_views(con: duckdb.DuckDBPyConnection, tables: Iterable[Table], columns_of: Columns) -> None:
    """One view per table (named like the table) holding exactly the columns the build reads, typed."""
    for table in tables:
        columns = columns_of(table)
        select = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in columns.items())
        con.execute(f"CREATE OR REPLACE VIEW {table.name} AS SELECT {select} FROM {reader(table.path, columns)}")


def locate_bad_value(tables: Iterable[Table], columns_of: Columns) -> MedldrError | None:
    """The file, column and first value that does not convert to the type the build reads it as.

    DuckDB names the file for a CSV it cannot parse, but a Parquet value that fails the view's cast surfaces only as
    the column's name; this search runs only after such a failure, so a clean build never pays for it.
    """
    con = duckdb.connect()
    try:
        for table in tables:
            if not table.path.name.endswith(".parquet"):
                continue
            for column, kind in columns_of(table).items():
                bad = con.sql(
                    f'SELECT "{column}"::VARCHAR FROM {reader(table.path)} '
                    f'WHERE "{column}" IS NOT NULL AND TRY_CAST("{column}" AS {kind}) IS NULL LIMIT 1'
                ).fetchall()
                if bad:
                    return MedldrError(f"{table.path}: column {column!r} holds {bad[0][0]!r}, which is not a {kind}")
    except duckdb.Error:
        return None
    finally:
        con.close()
    return None


def describe_read_error(err: duckdb.Error, tables: Iterable[Table], columns_of: Columns) -> MedldrError:
    """A source's read error as one line: the file it came from, or for a value that does not convert, the file,
    column and value."""
    tables = list(tables)
    found = describe_error(err, [t.path for t in tables])
    if "Conversion Error" in str(err) and "cannot be read" not in str(found):
        return locate_bad_value(tables, columns_of) or found
    return found
