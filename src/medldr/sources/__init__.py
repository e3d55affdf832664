"""Readers for raw EHR tables; the build stage reads only through them.

``SOURCES`` is the one registry of what ``medldr build SOURCE`` reads: a new source is one module (a ``Source``:
its files, its tables as DuckDB views in the layout the build reads, its read errors as one line) plus one entry
here. Later stages know a source only by the name and release its build manifest records.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from medldr.errors import MedldrError
from medldr.sources.base import Source
from medldr.sources.eicu import EicuSource, open_eicu
from medldr.sources.files import describe_error
from medldr.sources.mimic import MimicSource, open_mimic, register_views
from medldr.sources.notes import discharge_note_sections, drop_findings, split_sections

DEMO_ROOT = Path(__file__).parent / "mimic_iv_demo"
"""The bundled MIMIC-IV Clinical Database Demo 2.2 tables (ODbL 1.0; see NOTICE.md beside them)."""
DEMO_NAME = "mimic-iv-demo (bundled)"


def open_demo() -> MimicSource:
    """The bundled open demo: hosp tables only (no ED module, no notes)."""
    return open_mimic(DEMO_ROOT, version="2.2", name=DEMO_NAME)


@dataclass(frozen=True)
class SourceKind:
    """One kind of raw data ``medldr build KIND`` reads."""

    help: str
    opener: Callable[[Path | None, dict[str, Path], str | None], Source]  # (root, module folders, release)
    modules: tuple[str, ...] = ()  # optional module folders it takes (--ed, --note)
    # bundled open data: the source name its builds record (the data-use guard then checks a build's content)
    open_data_name: str | None = None


def _demo(root: Path | None, modules: dict[str, Path], release: str | None) -> Source:
    if root or modules or release:
        raise MedldrError("build demo reads the bundled demo; --root, --ed, --note and --release are for build mimic")
    return open_demo()


def _mimic(root: Path | None, modules: dict[str, Path], release: str | None) -> Source:
    if root is None:
        raise MedldrError("build mimic needs --root (the MIMIC-IV release folder that holds hosp/)")
    return open_mimic(root, ed=modules.get("ed"), note=modules.get("note"), version=release)


def _eicu(root: Path | None, modules: dict[str, Path], release: str | None) -> Source:
    if root is None:
        raise MedldrError("build eicu needs --root (the eICU-CRD release folder that holds patient.csv.gz)")
    return open_eicu(root, version=release)


SOURCES: dict[str, SourceKind] = {
    "demo": SourceKind("the bundled open MIMIC-IV demo (no path, no network)", _demo, open_data_name=DEMO_NAME),
    "mimic": SourceKind("MIMIC-IV 2.2 or 3.1 (give --root; --ed and --note optional)", _mimic, ("ed", "note")),
    "eicu": SourceKind("eICU-CRD 2.0 (give --root): LDR-eICU, the study's second benchmark", _eicu),
}


def open_source(
    kind: str, root: Path | None = None, modules: dict[str, Path] | None = None, release: str | None = None
) -> Source:
    """The checked source of a registered kind; a module folder the kind does not take is refused."""
    if kind not in SOURCES:
        raise MedldrError(f"build {kind!r}: expected {' or '.join(SOURCES)}")
    given = {name: path for name, path in (modules or {}).items() if path is not None}
    extra = sorted(set(given) - set(SOURCES[kind].modules))
    if extra and kind != "demo":
        raise MedldrError(f"build {kind}: --{extra[0]} is not a module of this source")
    return SOURCES[kind].opener(root, given, release)


__all__ = [
    "DEMO_NAME",
    "DEMO_ROOT",
    "SOURCES",
    "EicuSource",
    "MimicSource",
    "Source",
    "SourceKind",
    "describe_error",
    "discharge_note_sections",
    "drop_findings",
    "open_demo",
    "open_eicu",
    "open_mimic",
    "open_source",
    "register_views",
    "split_sections",
]
