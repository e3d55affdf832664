"""MIMIC-IV reader: finds the tables (hosp/, optional ed/ and note/), checks them, exposes them to DuckDB as views.

Every check runs before any work, so a bad layout fails in a second with one line naming the file and the missing
table or column. Reading is DuckDB SQL over the files themselves (out-of-core); nothing is loaded into Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from medldr.errors import MedldrError
from medldr.sources.files import (
    Table,
    check_columns,
    check_not_empty,
    describe_read_error,
    find_table_file,
    register_typed_views,
)

# Columns the build reads, with the type each is read as. Reading ICD codes as text keeps leading zeros ("0389").
HOSP: dict[str, dict[str, str]] = {
    "admissions": {
        "subject_id": "BIGINT",
        "hadm_id": "BIGINT",
        "admittime": "TIMESTAMP",
        "dischtime": "TIMESTAMP",
        "edregtime": "TIMESTAMP",
    },
    "patients": {"subject_id": "BIGINT", "gender": "VARCHAR", "anchor_age": "BIGINT"},
    "diagnoses_icd": {
        "subject_id": "BIGINT",
        "hadm_id": "BIGINT",
        "seq_num": "BIGINT",
        "icd_code": "VARCHAR",
        "icd_version": "BIGINT",
    },
    "d_icd_diagnoses": {"icd_code": "VARCHAR", "icd_version": "BIGINT", "long_title": "VARCHAR"},
    "labevents": {
        "labevent_id": "BIGINT",
        "subject_id": "BIGINT",
        "hadm_id": "BIGINT",
        "itemid": "BIGINT",
        "charttime": "TIMESTAMP",
        "value": "VARCHAR",
        "valueuom": "VARCHAR",
        "ref_range_lower": "DOUBLE",
        "ref_range_upper": "DOUBLE",
        "comments": "VARCHAR",
    },
    "d_labitems": {"itemid": "BIGINT", "label": "VARCHAR", "fluid": "VARCHAR", "category": "VARCHAR"},
    "microbiologyevents": {
        "microevent_id": "BIGINT",
        "subject_id": "BIGINT",
        "hadm_id": "BIGINT",
        "chartdate": "TIMESTAMP",
        "charttime": "TIMESTAMP",
        "spec_type_desc": "VARCHAR",
        "test_name": "VARCHAR",
        "org_name": "VARCHAR",
        "ab_itemid": "BIGINT",
        "ab_name": "VARCHAR",
        "interpretation": "VARCHAR",
        "comments": "VARCHAR",
    },
}
ED: dict[str, dict[str, str]] = {
    "edstays": {
        "subject_id": "BIGINT",
        "hadm_id": "BIGINT",
        "stay_id": "BIGINT",
        "intime": "TIMESTAMP",
        "outtime": "TIMESTAMP",
    },
    "triage": {
        "subject_id": "BIGINT",
        "stay_id": "BIGINT",
        "temperature": "DOUBLE",
        "heartrate": "DOUBLE",
        "resprate": "DOUBLE",
        "o2sat": "DOUBLE",
        "sbp": "DOUBLE",
        "dbp": "DOUBLE",
        "pain": "VARCHAR",
        "chiefcomplaint": "VARCHAR",
    },
}
NOTE: dict[str, dict[str, str]] = {
    "discharge": {
        "note_id": "VARCHAR",
        "subject_id": "BIGINT",
        "hadm_id": "BIGINT",
        "charttime": "TIMESTAMP",
        "text": "VARCHAR",
    },
    "radiology": {
        "note_id": "VARCHAR",
        "subject_id": "BIGINT",
        "hadm_id": "BIGINT",
        "charttime": "TIMESTAMP",
        "text": "VARCHAR",
    },
}
MODULES: dict[str, dict[str, dict[str, str]]] = {"hosp": HOSP, "ed": ED, "note": NOTE}
NEEDS_ROWS = ("admissions", "patients", "diagnoses_icd", "d_icd_diagnoses", "labevents", "d_labitems")
"""hosp tables without which no case can be built: a header-only one is refused naming it (else: 'no eligible
cases', naming nothing). Microbiology may be empty."""


@dataclass
class MimicSource:
    """A checked MIMIC-IV layout: which modules are present and where each table's file is."""

    root: Path
    version: str
    name: str = "mimic-iv"
    tables: dict[str, Table] = field(default_factory=dict)
    module_roots: dict[str, Path] = field(default_factory=dict)

    def has(self, module: str) -> bool:
        return module in self.module_roots

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        register_views(con, self)

    def describe_error(self, err: duckdb.Error) -> MedldrError:
        return describe_read_error(err, self.tables.values(), _columns)


def _module_folder(path: Path, module: str) -> Path:
    """PhysioNet ships each module as ``<release>/<module>/``; accept that folder or the release folder above it."""
    path = Path(path)
    if (path / module).is_dir():
        return path / module
    if path.is_dir():
        return path
    raise MedldrError(f"{path}: no such folder for the {module} module")


def guess_version(path: Path) -> str:
    """The release number in a PhysioNet path ('.../mimiciv/3.1' -> '3.1'), else 'unknown'.

    >>> guess_version(Path("/data/physionet.org/files/mimiciv/3.1")), guess_version(Path("/data/mimic"))
    ('3.1', 'unknown')
    """
    found = re.findall(r"(?<![\d.])(\d\.\d)(?![\d.])", str(path))
    return found[-1] if found else "unknown"


def open_mimic(
    root: Path,
    ed: Path | None = None,
    note: Path | None = None,
    version: str | None = None,
    name: str = "mimic-iv",
) -> MimicSource:
    """Locate and check a MIMIC-IV layout; ED and note modules are optional (also found as ``root/ed``, ``root/note``).

    Raises MedldrError naming the file and the missing table or column, or an empty table.
    """
    root = Path(root)
    if not root.is_dir():
        raise MedldrError(f"{root}: no such MIMIC-IV folder")
    source = MimicSource(root=root, version=version or guess_version(root.resolve()), name=name)
    source.module_roots["hosp"] = _module_folder(root, "hosp")
    for module, given in (("ed", ed), ("note", note)):
        if given is not None:
            source.module_roots[module] = _module_folder(Path(given), module)
        elif (root / module).is_dir():
            source.module_roots[module] = root / module
    con = duckdb.connect()
    try:
        for module, folder in source.module_roots.items():
            for name, columns in MODULES[module].items():
                table = Table(module, name, find_table_file(folder, module, name))
                check_columns(con, table, columns)
                if module in ("ed", "note") or name in NEEDS_ROWS:
                    remedy = "give the full module or leave it out" if module != "hosp" else "every case needs it"
                    check_not_empty(con, table, remedy)
                source.tables[table.key] = table
    finally:
        con.close()
    return source


def _columns(table: Table) -> dict[str, str]:
    return MODULES[table.module][table.name]


def register_views(con: duckdb.DuckDBPyConnection, source: MimicSource) -> None:
    """Create one view per table (named like the table) holding exactly the columns the build reads, typed."""
    register_typed_views(con, source.tables.values(), _columns)
