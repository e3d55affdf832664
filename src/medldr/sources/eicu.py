"""eICU-CRD 2.0 reader: finds the five tables LDR-eICU is built from, checks them, exposes them to DuckDB as views.

eICU-CRD (the eICU Collaborative Research Database, 200,859 ICU stays at 208 US hospitals, 2014-2015) is
credentialed PhysioNet data: nothing here is open, and the data-use guard treats every build of it so. PhysioNet
ships the tables flat in the release folder (``patient.csv.gz``, ``diagnosis.csv.gz``, ...); ``.csv`` and
``.parquet`` copies are read the same way. Times are minutes from unit admission (offsets), not timestamps. Column
names and types follow the eICU-CRD documentation (https://eicu-crd.mit.edu/eicutables/); only the columns the
build reads are checked and typed.
"""

from __future__ import annotations

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

TABLES: dict[str, dict[str, str]] = {
    "patient": {
        "patientunitstayid": "BIGINT",
        "patienthealthsystemstayid": "BIGINT",
        "uniquepid": "VARCHAR",  # e.g. "002-34851": the patient, across stays and hospital admissions
        "gender": "VARCHAR",
        "age": "VARCHAR",  # text: "> 89" for the oldest, empty when unknown
        "unitdischargeoffset": "BIGINT",
    },
    "diagnosis": {
        "diagnosisid": "BIGINT",
        "patientunitstayid": "BIGINT",
        "diagnosisoffset": "BIGINT",
        "diagnosisstring": "VARCHAR",  # a path: "pulmonary|respiratory failure|acute respiratory failure"
        "icd9code": "VARCHAR",  # despite its name, ICD-9 and ICD-10 codes together: "518.81, J96.00"
        "diagnosispriority": "VARCHAR",  # Primary / Major / Other (or empty)
    },
    "pastHistory": {
        "pasthistoryid": "BIGINT",
        "patientunitstayid": "BIGINT",
        "pasthistoryoffset": "BIGINT",
        "pasthistorypath": "VARCHAR",
        "pasthistoryvalue": "VARCHAR",
        "pasthistoryvaluetext": "VARCHAR",
    },
    "physicalExam": {
        "physicalexamid": "BIGINT",
        "patientunitstayid": "BIGINT",
        "physicalexamoffset": "BIGINT",
        "physicalexampath": "VARCHAR",
        "physicalexamvalue": "VARCHAR",
        "physicalexamtext": "VARCHAR",
    },
    "lab": {
        "labid": "BIGINT",
        "patientunitstayid": "BIGINT",
        "labresultoffset": "BIGINT",
        "labtypeid": "BIGINT",
        "labname": "VARCHAR",
        "labresult": "DOUBLE",
        "labmeasurenamesystem": "VARCHAR",
        "labresultrevisedoffset": "BIGINT",
    },
}
NEEDS_ROWS = ("patient", "diagnosis", "lab")
"""Without these no case can be built: a header-only one is refused naming it. Past history and physical exam may
be empty (the field is then absent from the cases)."""


@dataclass
class EicuSource:
    """A checked eICU-CRD layout: where each table's file is."""

    root: Path
    version: str
    name: str = "eicu-crd"
    tables: dict[str, Table] = field(default_factory=dict)

    def has(self, module: str) -> bool:
        return False  # eICU-CRD is one module

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        register_typed_views(con, self.tables.values(), _columns)

    def describe_error(self, err: duckdb.Error) -> MedldrError:
        return describe_read_error(err, self.tables.values(), _columns)


def _columns(table: Table) -> dict[str, str]:
    return TABLES[table.name]


def open_eicu(root: Path, version: str | None = None) -> EicuSource:
    """Locate and check an eICU-CRD release folder; raises MedldrError naming the file and the missing table or
    column, or an empty table, before any work."""
    root = Path(root)
    if not root.is_dir():
        raise MedldrError(f"{root}: no such eICU-CRD folder")
    source = EicuSource(root=root, version=version or "2.0")
    con = duckdb.connect()
    try:
        for name, columns in TABLES.items():
            table = Table("eicu", name, find_table_file(root, "eicu", name))
            check_columns(con, table, columns)
            if name in NEEDS_ROWS:
                check_not_empty(con, table, "every case needs it")
            source.tables[name] = table
    finally:
        con.close()
    return source
